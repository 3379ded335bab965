/**
 * What the stages' HTML pages share (the sample pages, the run report): escaping for text and
 * attributes, relative file URLs, JSON that is safe inside <script>, and round axis ticks.
 */

/** &, <, >, " and ' as entities: safe in text and in quoted attributes. */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!)

/** A relative URL for a file name: each path segment URL-encoded, empty ones dropped (no scheme, no leading / or //), then escaped. */
export const fileUrl = (file: string): string => escapeHtml(file.split("/").filter((segment) => segment !== "").map(encodeURIComponent).join("/"))

/** JSON that cannot end its <script> element early. */
export const jsonForScript = (value: unknown): string =>
  JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** `x` to `digits` decimals, as a number (no trailing zeros when printed). */
export const round = (x: number, digits: number): number => Number(x.toFixed(digits))

/** Up to `most` round tick positions in [0, extent]: steps of 1, 2 or 5 times a power of ten. */
export const ticks = (extent: number, most: number): number[] => {
  if (!(extent > 0)) return [0]
  const rough = extent / most
  const power = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => extent / s <= most)!
  return Array.from({ length: Math.floor(extent / step) + 1 }, (_, i) => round(i * step, 6)).filter((t) => t < extent || t === 0)
}
