// Times are shown, and dates typed, in China Standard Time (UTC+8, no daylight saving).

export const CST_OFFSET_MS = 8 * 3600 * 1000;
export const DAY_MS = 24 * 3600 * 1000;

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** "2026-11-03 14:05:09" in CST. */
export function fmtTime(ms: number): string {
  const d = new Date(ms + CST_OFFSET_MS);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** "2026-11-03" in CST. */
export function fmtDate(ms: number): string {
  return fmtTime(ms).slice(0, 10);
}

/** The first millisecond of a CST date ("YYYY-MM-DD"), or null. */
export function dateStartMs(date: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return null;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) - CST_OFFSET_MS;
}

/** The last millisecond of a CST date, or null. */
export function dateEndMs(date: string): number | null {
  const s = dateStartMs(date);
  return s === null ? null : s + DAY_MS - 1;
}

/** "20261103-1405" in CST, for file names. */
export function fileStamp(ms: number): string {
  const s = fmtTime(ms);
  return `${s.slice(0, 4)}${s.slice(5, 7)}${s.slice(8, 10)}-${s.slice(11, 13)}${s.slice(14, 16)}`;
}

export function short(hex: string | undefined, n = 8): string {
  if (!hex) return "";
  return hex.length > 2 * n + 1 ? `${hex.slice(0, n)}…${hex.slice(-4)}` : hex;
}
