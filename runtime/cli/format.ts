/** Text tables and sizes for the command line. */

/** `1.2 MB`-style size. */
export const formatBytes = (bytes: number | undefined): string => {
  if (bytes === undefined) return "-"
  const units = ["B", "KB", "MB", "GB", "TB"]
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) (value /= 1024, unit++)
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

/** `0.12s` / `3.4s` / `2m05s`. */
export const formatSeconds = (s: number): string => {
  if (s < 10) return `${s.toFixed(2)}s`
  if (s < 120) return `${s.toFixed(1)}s`
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`
}

/** A left-aligned text table with a header row and a rule under it. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, maxWidth = 60): string => {
  const cells = [header, ...rows].map((row) => row.map((c) => (c.length > maxWidth ? `${c.slice(0, maxWidth - 1)}…` : c)))
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)))
  const render = (row: ReadonlyArray<string>) => row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()
  return [render(cells[0]!), widths.map((w) => "─".repeat(w)).join("  "), ...cells.slice(1).map(render)].join("\n")
}
