import type { ComponentChildren, VNode } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, type AuditRecord } from "../api";
import { t } from "../i18n";
import { badges } from "../names";
import { DAY_MS, dateEndMs, dateStartMs, fmtDate } from "../time";
import { errText } from "../wasm";

/** An API error as a sentence: the message, then its name and stable code. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    const tag = [e.errName, e.code ? String(e.code) : ""].filter(Boolean).join(" ");
    return tag ? `${e.message} (${tag})` : e.message;
  }
  return errText(e);
}

export function ErrorBox({ error, testid }: { error: unknown; testid?: string }) {
  if (!error) return null;
  return (
    <p class="error" role="alert" data-testid={testid ?? "error"}>
      {t("errorPrefix")}
      {describeError(error)}
    </p>
  );
}

export function Loading() {
  return (
    <p class="muted" role="status">
      {t("loading")}
    </p>
  );
}

export function Badges({ record }: { record: AuditRecord }) {
  return (
    <span class="badges">
      {badges(record).map((b) => (
        <span class={`badge badge-${b.kind}`} data-testid="badge" key={b.kind}>
          {b.label}
        </span>
      ))}
    </span>
  );
}

export function Section({ title, children, id, testid }: { title: string; children: ComponentChildren; id?: string; testid?: string }) {
  return (
    <section class="card" aria-labelledby={id} data-testid={testid}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

export interface Range {
  from_ms: number;
  to_ms: number;
}

export type Preset = 7 | 30 | 90 | "custom";

/** The last `days` days up to now (or the chain's last block, if it is later). */
export function presetRange(days: number, tipMs: number): Range {
  const to = Math.max(Date.now(), tipMs);
  return { from_ms: to - days * DAY_MS, to_ms: to };
}

/** A period picked with a [`PeriodPicker`] (the last 30 days at first): its range and the picker. */
export function usePeriod(idPrefix: string, tipMs: number): { range: Range; picker: VNode } {
  const [preset, setPreset] = useState<Preset>(30);
  const [range, setRange] = useState<Range>(() => presetRange(30, tipMs));
  const picker = (
    <PeriodPicker
      idPrefix={idPrefix}
      tipMs={tipMs}
      preset={preset}
      onChange={(p, r) => {
        setPreset(p);
        setRange(r);
      }}
    />
  );
  return { range, picker };
}

/** `load(range)`, again whenever the range changes; an answer for an older range is dropped. */
export function useRangeData<T>(range: Range, load: (r: Range) => Promise<T>): { data: T | null; error: unknown } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    setError(null);
    setData(null);
    load(range).then(
      (d) => live && setData(d),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [range]);
  return { data, error };
}

/**
 * Last 7 / 30 / 90 days or a custom pair of CST dates. Calls `onChange` with the range
 * when a preset is picked or a custom range applied.
 */
export function PeriodPicker({
  idPrefix,
  tipMs,
  preset,
  onChange,
}: {
  idPrefix: string;
  tipMs: number;
  preset: Preset;
  onChange: (p: Preset, r: Range) => void;
}) {
  const now = Math.max(Date.now(), tipMs);
  const [from, setFrom] = useState(fmtDate(now - 30 * DAY_MS));
  const [to, setTo] = useState(fmtDate(now));
  const [custom, setCustom] = useState(preset === "custom");
  const [bad, setBad] = useState(false);
  const pick = (v: string) => {
    if (v === "custom") {
      setCustom(true);
      return;
    }
    setCustom(false);
    const d = Number(v) as 7 | 30 | 90;
    onChange(d, presetRange(d, tipMs));
  };
  const apply = (e: Event) => {
    e.preventDefault();
    const f = dateStartMs(from);
    const tt = dateEndMs(to);
    if (f === null || tt === null || f > tt) {
      setBad(true);
      return;
    }
    setBad(false);
    onChange("custom", { from_ms: f, to_ms: tt });
  };
  return (
    <form class="period" onSubmit={apply} data-testid={`${idPrefix}-period`}>
      <label for={`${idPrefix}-preset`}>{t("period")}</label>
      <select
        id={`${idPrefix}-preset`}
        value={custom ? "custom" : String(preset)}
        onChange={(e) => pick((e.target as HTMLSelectElement).value)}
        data-testid={`${idPrefix}-preset`}
      >
        <option value="7">{t("last7")}</option>
        <option value="30">{t("last30")}</option>
        <option value="90">{t("last90")}</option>
        <option value="custom">{t("custom")}</option>
      </select>
      {custom && (
        <>
          <label for={`${idPrefix}-from`}>{t("fromDate")}</label>
          <input id={`${idPrefix}-from`} type="date" value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} required />
          <label for={`${idPrefix}-to`}>{t("toDate")}</label>
          <input id={`${idPrefix}-to`} type="date" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} required />
          <button type="submit">{t("apply")}</button>
        </>
      )}
      <span class="muted small">{t("cstNote")}</span>
      {bad && (
        <span class="error small" role="alert">
          {t("badRange")}
        </span>
      )}
    </form>
  );
}

export function RangeNote({ from_ms, to_ms }: Range) {
  return <p class="muted small">{t("periodShown", fmtDate(from_ms), fmtDate(to_ms))}</p>;
}
