/**
 * A sparse window onto a long result: pages of items by index, loaded as the user scrolls. A new query (filter,
 * sort) starts a new generation so late answers to the old one are dropped. Each page keeps the token its answer
 * gave for the page after it, so scrolling on asks for that page by a seek past the last item seen rather than by
 * an offset the daemon would have to count out (slow deep in a large library).
 */
export class PageCache<T> {
  private pages = new Map<number, T[]>();
  private next = new Map<number, string>();
  private loading = new Set<number>();
  private stale = new Set<number>();
  generation = 0;

  constructor(readonly pageSize: number) {}

  reset(): void {
    this.pages.clear();
    this.next.clear();
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

  /**
   * Stores a page's items, and the token for the page after it (null at the end), unless the cache moved on
   * since `begin`; returns whether it was kept.
   */
  finish(page: number, generation: number, items: T[] | null, next: string | null = null): boolean {
    if (generation !== this.generation) return false;
    this.loading.delete(page);
    if (items) {
      this.pages.set(page, items);
      this.stale.delete(page);
      if (next === null) this.next.delete(page);
      else this.next.set(page, next);
    }
    return items !== null;
  }

  /**
   * The token that continues right after the page before `page`, when that page is loaded and fresh: the page
   * then follows on from what is shown. Otherwise (the first page, a jump, a page waiting to be reloaded) the
   * page is asked for by its offset.
   */
  after(page: number): string | undefined {
    return page > 0 && this.pages.has(page - 1) && !this.stale.has(page - 1) ? this.next.get(page - 1) : undefined;
  }

  /** Forgets pages beyond `total` items after the result shrank. */
  trim(total: number): void {
    for (const p of this.pages.keys()) {
      if (p * this.pageSize >= total) {
        this.pages.delete(p);
        this.next.delete(p);
      }
    }
  }
}
