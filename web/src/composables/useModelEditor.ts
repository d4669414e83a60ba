import { computed, onScopeDispose, ref, watch, type Ref } from "vue";
import { ApiError, api } from "../api/client";
import { onDaemonEvent } from "../api/events";
import type { ModelDetail } from "../api/types";
import { i18n } from "../i18n";
import {
  buildPatch,
  changedFields,
  cloneForm,
  formFromDetail,
  formProblems,
  isEmptyPatch,
  rebase,
  withGuard,
  type ChangedField,
  type DetailsForm,
} from "../logic/details";
import { latest } from "../logic/latest";
import { updateQuery } from "../router";
import { useLibraryStore } from "../stores/library";
import { errorText, useUiStore } from "../stores/ui";

/**
 * One library model in the details panel: loaded when `sha256` changes (and again, quietly, when the daemon says it
 * changed), edited as a form, saved as the difference from what was loaded, removed on request.
 */
export function useModelEditor(sha256: Readonly<Ref<string | null>>) {
  const ui = useUiStore();
  const library = useLibraryStore();
  const t = i18n.global.t;

  const detail = ref<ModelDetail | null>(null);
  /** The form as loaded (what a save is compared against) and as edited. */
  const original = ref<DetailsForm | null>(null);
  const form = ref<DetailsForm | null>(null);
  const loadError = ref<string | null>(null);
  const gone = ref(false);
  const saving = ref(false);
  const actionError = ref<string | null>(null);
  /** The fields another tab saved since this form was loaded, when a save was refused for them. */
  const conflict = ref<ChangedField[]>([]);

  const patch = computed(() => (form.value && original.value ? buildPatch(original.value, form.value) : {}));
  const dirty = computed(() => !isEmptyPatch(patch.value));
  const problems = computed(() => (form.value ? formProblems(form.value) : []));
  const canSave = computed(() => dirty.value && !saving.value && problems.value.length === 0);

  function clear(): void {
    detail.value = form.value = original.value = null;
  }

  /** Takes the daemon's model; the form follows unless it holds edits (an image added meanwhile keeps them). */
  function apply(model: ModelDetail, resetForm: boolean): void {
    const sameModel = detail.value?.sha256 === model.sha256;
    detail.value = model;
    if (resetForm || !sameModel || !dirty.value) {
      original.value = formFromDetail(model);
      form.value = cloneForm(original.value);
      conflict.value = [];
    }
  }

  const reads = latest();
  // A read of a model the panel no longer shows is cancelled, not just ignored.
  let controller: AbortController | null = null;

  /** Loads the selected model; `quiet` keeps what is shown while it loads (a refresh after an event). */
  async function load(quiet = false): Promise<void> {
    const sha = sha256.value;
    if (!sha) return;
    const mine = reads.next();
    controller?.abort();
    controller = new AbortController();
    if (!quiet) loadError.value = null;
    try {
      const model = await api.model(sha, controller.signal);
      if (!reads.isCurrent(mine)) return;
      gone.value = false;
      loadError.value = null;
      apply(model, false);
    } catch (err) {
      if (!reads.isCurrent(mine)) return;
      if (err instanceof ApiError && err.status === 404) {
        gone.value = true;
        clear();
      } else {
        loadError.value = errorText(err);
        ui.reportError(err);
      }
    }
  }

  watch(
    sha256,
    () => {
      // By now the route guard has asked about unsaved edits; whatever the form held is let go.
      clear();
      gone.value = false;
      loadError.value = null;
      actionError.value = null;
      void load();
    },
    { immediate: true },
  );

  async function save(): Promise<void> {
    const model = detail.value;
    const start = original.value;
    if (!model || !start || !canSave.value) return;
    saving.value = true;
    actionError.value = null;
    conflict.value = [];
    try {
      apply(await api.patchModel(model.sha256, withGuard(start, patch.value)), true);
      library.libraryChanged();
      void library.refreshTags();
      ui.notify(t("details.saved"));
    } catch (err) {
      const changed = err instanceof ApiError && err.status === 409 ? changedFields(err.body) : [];
      if (changed.length) {
        conflict.value = changed; // the form keeps what the user typed
      } else {
        actionError.value = t("details.saveFailed", { error: errorText(err) });
        ui.reportError(err);
      }
    } finally {
      saving.value = false;
    }
  }

  /** Saves this tab's values over the ones another tab saved meanwhile. */
  async function overwrite(): Promise<void> {
    if (!original.value) return;
    original.value = rebase(original.value, conflict.value);
    conflict.value = [];
    await save();
  }

  function revert(): void {
    if (original.value) form.value = cloneForm(original.value);
    actionError.value = null;
    conflict.value = [];
  }

  async function remove(): Promise<void> {
    const model = detail.value;
    if (!model) return;
    const answer = await ui.askConfirm({
      title: t("details.removeTitle"),
      message: t("details.removeMessage", { name: model.name }),
      ok: t("details.removeOk"),
      checkbox: t("details.removeIgnore"),
      danger: true,
    });
    if (!answer.ok) return;
    actionError.value = null;
    try {
      await api.deleteModel(model.sha256, answer.checked);
    } catch (err) {
      actionError.value = errorText(err);
      ui.reportError(err);
      return;
    }
    ui.notify(t("details.removed"));
    library.libraryChanged();
    // The edits went with the model: with the form cleared nothing is dirty, so leaving does not ask.
    clear();
    await updateQuery({ model: null });
  }

  const stopEvents = onDaemonEvent((event) => {
    const model = event.type.startsWith("model.") && "sha256" in event ? event.sha256 : null;
    if (!model || model !== sha256.value) return;
    if (event.type === "model.removed") {
      // The event says it is gone: reading it again would only fetch a 404.
      reads.next();
      controller?.abort();
      gone.value = true;
      clear();
    } else if (!saving.value) {
      void load(true);
    }
  });
  onScopeDispose(() => {
    stopEvents();
    reads.invalidate();
    controller?.abort();
  });

  return {
    detail,
    form,
    loadError,
    gone,
    saving,
    actionError,
    conflict,
    dirty,
    problems,
    canSave,
    load,
    save,
    overwrite,
    revert,
    remove,
  };
}
