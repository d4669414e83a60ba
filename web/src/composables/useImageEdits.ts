import { ref, watch, type Ref } from "vue";
import { api } from "../api/client";
import type { ModelImage } from "../api/types";
import { i18n } from "../i18n";
import { errorText, useUiStore } from "../stores/ui";

/**
 * Changes to a model's images (uploads, the cover, deletions), one at a time; failures are kept in `error` for the
 * gallery and shown as toasts. `changed` is called after the daemon's images changed; `uploaded` with the number
 * of the last image an upload added and the model it went to (the gallery may show another one by then).
 */
export function useImageEdits(
  sha256: Readonly<Ref<string>>,
  on: { changed: () => void; uploaded: (seq: number, sha256: string) => void },
) {
  const ui = useUiStore();
  const t = i18n.global.t;
  const busy = ref(false);
  const error = ref<string | null>(null);

  watch(sha256, () => (error.value = null));

  let uploads: Promise<void> = Promise.resolve();

  /** Uploads one after another, so a paste during a drop's upload waits its turn instead of being lost. */
  function upload(files: File[]): Promise<void> {
    if (files.length) {
      const sha = sha256.value;
      uploads = uploads.then(() => send(sha, files));
    }
    return uploads;
  }

  async function send(sha: string, files: File[]): Promise<void> {
    busy.value = true;
    error.value = null;
    const problems: string[] = [];
    let added: number | null = null;
    for (const file of files) {
      try {
        added = (await api.uploadImage(sha, file, file.name || "image")).seq;
      } catch (err) {
        const text = t("details.uploadFailed", { file: file.name || "image", error: errorText(err) });
        problems.push(text);
        ui.notify(text, "error");
      }
    }
    busy.value = false;
    if (problems.length) error.value = problems.join("\n");
    if (added !== null) {
      on.uploaded(added, sha);
      ui.notify(t("details.uploaded"));
      on.changed();
    }
  }

  async function change(action: () => Promise<unknown>, done: string): Promise<void> {
    busy.value = true;
    try {
      await action();
      ui.notify(done);
      on.changed();
    } catch (err) {
      error.value = errorText(err);
      ui.reportError(err);
    } finally {
      busy.value = false;
    }
  }

  async function setCover(image: ModelImage | null): Promise<void> {
    if (!image || busy.value) return;
    await change(() => api.setCover(sha256.value, image.seq), t("details.coverSet"));
  }

  /** Deletes `image` (shown as number `n`) once the user confirms. */
  async function remove(image: ModelImage | null, n: number): Promise<void> {
    if (!image || busy.value) return;
    const ok = await ui.confirm({
      title: t("details.deleteTitle"),
      message: t("details.deleteMessage", { n }),
      ok: t("details.deleteOk"),
      danger: true,
    });
    if (ok) await change(() => api.deleteImage(sha256.value, image.seq), t("details.imageDeleted"));
  }

  return { busy, error, upload, setCover, remove };
}
