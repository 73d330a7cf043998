/**
 * Human output of the admin commands: aligned tables and key/value blocks,
 * sizes in binary units (`formatBytes`), `-` for what the server does not report.
 *
 * @module
 */
import { formatBytes } from "../config/mod.ts";
import type { ObjectInfo } from "../client/mod.ts";

/** Columns padded to the widest cell; numeric-looking columns right-aligned. */
export function formatTable(header: string[], rows: string[][], rightAlign: Set<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        if (i === cells.length - 1 && !rightAlign.has(i)) return c;
        return rightAlign.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]);
      })
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** `1.5 MiB`, or `-` when unknown (negative). */
export function sizeText(n: number): string {
  return n < 0 ? "-" : formatBytes(n);
}

/** The `ls` table. */
export function formatList(objects: ObjectInfo[]): string {
  const rows = objects.map((o) => [
    o.key,
    o.version === undefined ? "-" : String(o.version),
    o.kind ?? "-",
    sizeText(o.size),
    o.records < 0 ? "-" : String(o.records),
  ]);
  const table = formatTable(["KEY", "VERSION", "KIND", "SIZE", "RECORDS"], rows, new Set([1, 3, 4]));
  const total = objects.reduce((n, o) => n + Math.max(0, o.size), 0);
  const count = `${objects.length} object${objects.length === 1 ? "" : "s"}, ${formatBytes(total)}`;
  return objects.length === 0 ? "no objects" : `${table}\n${count}`;
}

/** `name: value` lines with the values aligned. */
export function formatFields(fields: [string, string][]): string {
  const width = Math.max(...fields.map(([k]) => k.length)) + 1;
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join("\n");
}

/** The `stat` block. */
export function formatStat(o: ObjectInfo): string {
  const fields: [string, string][] = [
    ["key", o.key],
    ["endpoint", o.endpoint ?? "-"],
    ["version", o.version === undefined ? "-" : String(o.version)],
    ["kind", o.kind ?? "-"],
    ["size", o.size < 0 ? "-" : `${formatBytes(o.size)} (${o.size} bytes)`],
    ["records", o.records < 0 ? "-" : String(o.records)],
  ];
  let out = formatFields(fields);
  if (o.columns && o.columns.length > 0) {
    const cols = o.columns.map((c) => [c.name, c.type, c.nullable ? "yes" : "no"]);
    out += `\ncolumns:\n${formatTable(["NAME", "TYPE", "NULLABLE"], cols).replace(/^/gm, "  ")}`;
  }
  return out;
}
