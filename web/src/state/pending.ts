import { ref } from "vue";
import { api } from "../api/client";

/** Pending items waiting for the user (every status but ignored), for the header badge. */
export const pendingCount = ref(0);

export async function refreshPendingCount(): Promise<void> {
  const { total } = await api.pending("active", 0, 0);
  pendingCount.value = total;
}
