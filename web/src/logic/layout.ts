/** Below this width the details are a sheet over the page; the components' `max-width: 899px` queries match it.
 * (Phones, up to 599 px, fold toolbars into menus in CSS alone.) */
export const SHEET_MAX = 899;

/** The narrowest a card may get before the grid drops a column. */
export const MIN_CARD_WIDTH = 150;

/**
 * How many cards fit side by side in `width` pixels with `gap` between and around them: the user's `columns` is
 * a maximum, never so many that a card gets narrower than MIN_CARD_WIDTH, and at least one.
 */
export function fittingColumns(width: number, columns: number, gap: number): number {
  const fit = Math.floor((width - gap) / (MIN_CARD_WIDTH + gap));
  return Math.max(1, Math.min(columns, fit));
}
