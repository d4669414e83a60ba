import { onScopeDispose, type Ref } from "vue";
import type { Router } from "vue-router";
import { i18n } from "../i18n";
import { router as pageRouter } from "../router";
import { useUiStore } from "../stores/ui";
import { useWindowEvent } from "./useWindowEvent";

/**
 * While `dirty` holds edits not yet saved, leaving the model (or the library) asks first, also for the back
 * button, and closing or reloading the tab has the browser ask.
 */
export function useDirtyGuard(dirty: Readonly<Ref<boolean>>, router: Router = pageRouter): void {
  const ui = useUiStore();
  const removeGuard = router.beforeEach(async (to, from) => {
    const leaving = to.query.model !== from.query.model || (to.query.mode ?? "") !== (from.query.mode ?? "");
    if (!dirty.value || !leaving) return true;
    const t = i18n.global.t;
    return ui.confirm({
      title: t("unsaved.title"),
      message: t("unsaved.message"),
      ok: t("unsaved.discard"),
      cancel: t("unsaved.keep"),
      danger: true,
    });
  });
  onScopeDispose(removeGuard);
  useWindowEvent("beforeunload", (e) => {
    if (dirty.value) e.preventDefault();
  });
}
