import { computed, ref, watch, type Ref } from "vue";
import type { ImageUrls, ModelImage } from "../api/types";
import { coverSeq, galleryIndex } from "../logic/details";

/** Which of a model's images the gallery shows, and moving through them (buttons, dots, arrow keys). */
export function useGallery(
  sha256: Readonly<Ref<string>>,
  images: Readonly<Ref<readonly ModelImage[]>>,
  cover: Readonly<Ref<ImageUrls | null>>,
) {
  // The shown image is remembered by number so it stays shown when others come and go; the index is where it
  // was, for when it is the one deleted.
  const shownSeq = ref<number | null>(null);
  const lastIndex = ref(0);
  const index = computed(() => galleryIndex(images.value, shownSeq.value, lastIndex.value));
  const current = computed(() => images.value[index.value] ?? null);
  const coverAt = computed(() => coverSeq(images.value, cover.value));
  const isCover = computed(() => current.value !== null && current.value.seq === coverAt.value);

  watch(
    sha256,
    () => {
      shownSeq.value = coverAt.value;
      lastIndex.value = 0;
    },
    { immediate: true },
  );

  function go(i: number): void {
    const n = images.value.length;
    if (!n) return;
    const j = (i + n) % n;
    lastIndex.value = j;
    shownSeq.value = images.value[j]?.seq ?? null;
  }

  /** Shows the image numbered `seq` once it is among the images (one just uploaded). */
  function show(seq: number): void {
    shownSeq.value = seq;
  }

  function onKeydown(e: KeyboardEvent): void {
    if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
      e.preventDefault();
      go(index.value + (e.key === "ArrowLeft" ? -1 : 1));
    }
  }

  return { index, current, coverAt, isCover, go, show, onKeydown };
}
