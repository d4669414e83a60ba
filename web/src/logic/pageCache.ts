/**
 * A sparse window onto a long result: pages of items by index, loaded as the user scrolls. A new query (filter,
 * sort) starts a new generation so late answers to the old one are dropped.
 */
export class PageCache<T> {
  private pages = new Map<number, T[]>();
  private loading = new Set<number>();
  private stale = new Set<number>();
  generation = 0;

  constructor(readonly pageSize: number) {}

  reset(): void {
    this.pages.clear();
    this.loading.clear();
    this.stale.clear();
    this.generation++;
  }

  /** Keeps what is shown until fresh pages arrive (no flicker), but lets every page load again. */
  markStale(): void {
    this.loading.clear();
    this.generation++;
    this.stale = new Set(this.pages.keys());
  }

  get(index: number): T | undefined {
    return this.pages.get(Math.floor(index / this.pageSize))?.[index % this.pageSize];
  }

  /** Pages covering [first, last] that are neither loaded (and fresh) nor on their way. */
  wanted(first: number, last: number): number[] {
    const out: number[] = [];
    if (last < first) return out;
    for (let p = Math.floor(first / this.pageSize); p <= Math.floor(last / this.pageSize); p++) {
      if ((!this.pages.has(p) || this.stale.has(p)) && !this.loading.has(p)) out.push(p);
    }
    return out;
  }

  begin(page: number): number {
    this.loading.add(page);
    return this.generation;
  }

  /** Stores a page's items unless the cache moved on since `begin`; returns whether it was kept. */
  finish(page: number, generation: number, items: T[] | null): boolean {
    if (generation !== this.generation) return false;
    this.loading.delete(page);
    if (items) {
      this.pages.set(page, items);
      this.stale.delete(page);
    }
    return items !== null;
  }

  /** Forgets pages beyond `total` items after the result shrank. */
  trim(total: number): void {
    for (const p of this.pages.keys()) if (p * this.pageSize >= total) this.pages.delete(p);
  }
}
