import { reactive, ref } from "vue";
import { api } from "../api/client";
import type { ConflictEntry, ImportReport, PendingItem, Strategy } from "../api/types";
import { i18n } from "../i18n";
import { emptyReport, groupByStrategy, isDamaged, mergeReports } from "../logic/inbox";
import { useLibraryStore } from "../stores/library";
import { usePendingStore } from "../stores/pending";
import { errorText, useUiStore } from "../stores/ui";
import type { ConflictChoice } from "./useConflictChoices";

export interface ImportFlowOptions {
  /** The selected rows still in view, and a way to keep only some of them selected. */
  selectedIds: () => number[];
  retain: (keep: (id: number) => boolean) => void;
  /** Asks the user how to settle the conflicts; null when they cancelled. */
  askConflicts: (conflicts: ConflictEntry[]) => Promise<ConflictChoice | null>;
  /**
   * Asks before importing files that look damaged (they may not load): all of the selection, all but them, or
   * nothing.
   */
  askDamaged: (damaged: PendingItem[]) => Promise<DamagedAnswer>;
  /** Shows what the import did, file by file (in the order asked); resolves when the user closed the report. */
  showReport: (report: ImportReport, files: Map<number, ReportFile>) => Promise<void>;
}

export type DamagedAnswer = "anyway" | "skip" | "cancel";

/** A file of the report as the list knew it before the import (imported rows leave the list). */
export interface ReportFile {
  name: string;
  path: string;
  /** What the conflict dialog chose for it; null when it was not asked about. */
  strategy: Strategy | null;
}

/**
 * The inbox's actions on the selection: import (asking about conflicts, then one request per chosen strategy, all
 * answers shown as one report), restore ignored rows, and retry a failed row. One bulk action at a time.
 */
export function useImportFlow(o: ImportFlowOptions) {
  const ui = useUiStore();
  const pending = usePendingStore();
  const library = useLibraryStore();
  const t = i18n.global.t;
  const busy = ref(false);
  const retrying = reactive(new Set<number>());

  function nameOf(id: number): string {
    return pending.rows.get(id)?.name ?? `#${id}`;
  }

  async function importSelected(): Promise<void> {
    const ids = o.selectedIds();
    if (!ids.length || busy.value) return;
    const damaged = ids.flatMap((id) => {
      const row = pending.rows.get(id);
      return row && isDamaged(row) ? [row] : [];
    });
    if (!damaged.length) {
      await importIds(ids, false);
      return;
    }
    const answer = await o.askDamaged(damaged);
    if (answer === "anyway") await importIds(ids, true);
    else if (answer === "skip") await importIds(ids.filter((id) => !damaged.some((d) => d.id === id)), false);
  }

  /** Damaged files the first import refused, imported now that the user has seen why. */
  async function importAnyway(ids: number[]): Promise<void> {
    await importIds(ids, true);
  }

  async function importIds(ids: number[], confirmDamaged: boolean): Promise<void> {
    if (!ids.length || busy.value) return;
    const files = new Map<number, ReportFile>(
      ids.map((id) => [id, { name: nameOf(id), path: pending.rows.get(id)?.path ?? "", strategy: null }]),
    );
    busy.value = true;
    try {
      const reports: ImportReport[] = [await api.importPending(ids, null, false, confirmDamaged)];
      const conflicts = reports[0]?.conflicts ?? [];
      const answer = conflicts.length ? await o.askConflicts(conflicts) : null;
      if (answer) {
        for (const [id, strategy] of answer.choices) {
          const file = files.get(id);
          if (file) file.strategy = strategy;
        }
        for (const [strategy, group] of groupByStrategy(answer.choices)) {
          try {
            reports.push(await api.importPending(group, strategy, strategy === "delete" && answer.deleteFiles,
              confirmDamaged));
          } catch (err) {
            // One strategy's request failing must not hide what the others did: it lands in the report.
            reports.push({ ...emptyReport(), failed: group.map((id) => ({ id, error: errorText(err) })) });
          }
        }
      }
      const report = mergeReports(reports);
      o.retain((id) => report.conflicts.some((c) => c.id === id));
      await o.showReport(report, files);
      if (report.imported.length) library.libraryChanged();
    } catch (err) {
      ui.reportError(err);
    } finally {
      busy.value = false;
      pending.refreshCount().catch(ui.reportError);
      void pending.reload();
    }
  }

  async function restoreSelected(): Promise<void> {
    const ids = o.selectedIds();
    if (!ids.length || busy.value) return;
    busy.value = true;
    try {
      const answer = await api.restorePending(ids);
      if (answer.restored.length) ui.notify(t("inbox.restored", { n: answer.restored.length }));
      for (const f of answer.failed) ui.notify(`${nameOf(f.id)}: ${f.error}`, "error");
      o.retain(() => false);
    } catch (err) {
      ui.reportError(err);
    } finally {
      busy.value = false;
    }
  }

  async function retry(item: PendingItem): Promise<void> {
    retrying.add(item.id);
    try {
      const answer = await api.retryPending([item.id]);
      for (const f of answer.failed) ui.notify(`${item.name}: ${f.error}`, "error");
    } catch (err) {
      ui.reportError(err);
    } finally {
      retrying.delete(item.id);
    }
  }

  return { busy, retrying, importSelected, importAnyway, restoreSelected, retry };
}
