import { useEffect, useMemo, useState } from "preact/hooks";
import { api, type Balances, type PointsSeries } from "../api";
import { ErrorBox, Loading, RangeNote, usePeriod, type Range } from "../components/common";
import { useApp } from "../context";
import { t } from "../i18n";
import { deptName } from "../names";
import { fmtTime } from "../time";

const COLORS = ["#1f6fb2", "#c2410c", "#15803d", "#7c3aed", "#b45309", "#0e7490", "#be185d", "#4d7c0f", "#475569", "#9333ea"];

const W = 960;
const H = 340;
const M = { l: 64, r: 16, t: 14, b: 40 };

function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  const n = raw / p;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p;
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const TIME_STEPS = [MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY];
const CST = 8 * HOUR;

function timeTicks(x0: number, x1: number): { ticks: number[]; fmt: (ms: number) => string } {
  const span = Math.max(1, x1 - x0);
  const step = TIME_STEPS.find((s) => span / s <= 7) ?? 30 * DAY;
  const first = Math.ceil((x0 + CST) / step) * step - CST;
  const ticks: number[] = [];
  for (let x = first; x <= x1; x += step) ticks.push(x);
  const fmt = (ms: number) => {
    const s = fmtTime(ms);
    if (step >= DAY) return s.slice(5, 10);
    return span > DAY ? `${s.slice(5, 10)} ${s.slice(11, 16)}` : s.slice(11, 16);
  };
  return { ticks, fmt };
}

interface Line {
  dept: string;
  color: string;
  series: PointsSeries;
  start: number; // balance at the left edge
  end: number;
}

export function BalanceChart({ lines, range }: { lines: Line[]; range: Range }) {
  const firstEvent = Math.min(...lines.flatMap((l) => l.series.points.map((p) => p.time_ms)));
  // Start at the first change (the line is flat before it) so that a burst of activity is readable.
  const x0 = Number.isFinite(firstEvent) ? Math.max(range.from_ms, firstEvent - (range.to_ms - firstEvent) * 0.04) : range.from_ms;
  const lastEvent = Math.max(...lines.flatMap((l) => l.series.points.map((p) => p.time_ms)));
  const x1 = Math.max(range.to_ms, Number.isFinite(lastEvent) ? lastEvent : 0);
  const values = lines.flatMap((l) => [l.start, l.end, ...l.series.points.map((p) => p.balance)]);
  let y0 = Math.min(...values);
  let y1 = Math.max(...values);
  if (y0 === y1) {
    y0 -= 10;
    y1 += 10;
  }
  const ys = niceStep(y1 - y0, 5);
  y0 = Math.floor(y0 / ys) * ys;
  y1 = Math.ceil(y1 / ys) * ys;
  const yTicks: number[] = [];
  for (let v = y0; v <= y1 + ys / 2; v += ys) yTicks.push(v);
  const px = (ms: number) => M.l + ((ms - x0) / (x1 - x0 || 1)) * (W - M.l - M.r);
  const py = (v: number) => M.t + (1 - (v - y0) / (y1 - y0 || 1)) * (H - M.t - M.b);
  const { ticks, fmt } = timeTicks(x0, x1);
  const names = lines.map((l) => l.dept).join(", ");
  return (
    <figure class="chart">
      <div class="legend" data-testid="points-legend">
        {lines.map((l) => (
          <span key={l.dept}>
            <i class="swatch" style={{ background: l.color }} /> {l.dept}
            <span class="muted small"> {t("events", l.series.points.length ? l.end : l.start, l.series.points.length)}</span>
          </span>
        ))}
      </div>
      <svg viewBox={`0 0 ${W} ${H}`} class="chart-svg" role="img" aria-label={t("chartLabel", names)} data-testid="points-chart">
        <g class="grid">
          {yTicks.map((v) => (
            <g key={`y${v}`}>
              <line x1={M.l} x2={W - M.r} y1={py(v)} y2={py(v)} />
              <text x={M.l - 6} y={py(v)} text-anchor="end" dominant-baseline="middle">
                {v.toLocaleString()}
              </text>
            </g>
          ))}
          {ticks.map((x) => (
            <g key={`x${x}`}>
              <line x1={px(x)} x2={px(x)} y1={M.t} y2={H - M.b} class="vgrid" />
              <text x={px(x)} y={H - M.b + 16} text-anchor="middle">
                {fmt(x)}
              </text>
            </g>
          ))}
        </g>
        <line class="axis" x1={M.l} x2={M.l} y1={M.t} y2={H - M.b} />
        <line class="axis" x1={M.l} x2={W - M.r} y1={H - M.b} y2={H - M.b} />
        <text class="axis-title" x={(M.l + W - M.r) / 2} y={H - 4} text-anchor="middle">
          {t("axisTime")}
        </text>
        <text class="axis-title" transform={`translate(14 ${(M.t + H - M.b) / 2}) rotate(-90)`} text-anchor="middle">
          {t("axisBalance")}
        </text>
        {lines.map((l) => {
          const pts = [...l.series.points].sort((a, b) => a.time_ms - b.time_ms || a.seq - b.seq);
          let d = `M${px(x0)},${py(l.start)}`;
          for (const p of pts) d += ` H${px(p.time_ms).toFixed(1)} V${py(p.balance).toFixed(1)}`;
          d += ` H${px(x1)}`;
          return (
            <g key={l.dept} data-testid="points-line" data-dept={l.dept}>
              <path d={d} fill="none" stroke={l.color} stroke-width={2.2} />
              {pts.length <= 300 &&
                pts.map((p) => (
                  <circle key={p.seq} cx={px(p.time_ms)} cy={py(p.balance)} r={3} fill={l.color}>
                    <title>{`${l.dept} ${fmtTime(p.time_ms)}: ${p.balance} (${p.delta >= 0 ? "+" : ""}${p.delta} ${p.kind}${p.counterparty ? " · " + p.counterparty : ""})`}</title>
                  </circle>
                ))}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

export function Points() {
  const app = useApp();
  const [balances, setBalances] = useState<Balances | null>(null);
  const [balErr, setBalErr] = useState<unknown>(null);
  const [chosen, setChosen] = useState<string[] | null>(null);
  const { range, picker } = usePeriod("points", app.info.tip_time_ms);
  const [series, setSeries] = useState<Record<string, PointsSeries>>({});
  const [histErr, setHistErr] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    api.balances().then(
      (b) => {
        setBalances(b);
        if (chosen === null) {
          const initial = app.genesis.access?.initial_points;
          const moved = b.balances.filter((x) => initial === undefined || x.balance !== initial).map((x) => x.department);
          const own = app.session.auditor ? [] : [app.session.department];
          const pick = Array.from(new Set([...own, ...moved])).slice(0, 4);
          setChosen(pick.length ? pick : b.balances.slice(0, 3).map((x) => x.department));
        }
      },
      (e) => setBalErr(e),
    );
  }, []);

  useEffect(() => {
    if (!chosen || !chosen.length) return;
    let live = true;
    setLoading(true);
    setHistErr(null);
    Promise.all(chosen.map((d) => api.history(d, range))).then(
      (all) => {
        if (!live) return;
        const m: Record<string, PointsSeries> = {};
        all.forEach((s, i) => (m[chosen[i]] = s));
        setSeries(m);
        setLoading(false);
      },
      (e) => {
        if (!live) return;
        setHistErr(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [chosen, range]);

  const depts = balances?.balances.map((b) => b.department) ?? [];
  const lines: Line[] = useMemo(() => {
    if (!chosen || !balances) return [];
    return chosen
      .filter((d) => series[d])
      .map((d) => {
        const s = series[d];
        const pts = [...s.points].sort((a, b) => a.time_ms - b.time_ms || a.seq - b.seq);
        const now = balances.balances.find((b) => b.department === d)?.balance ?? 0;
        const start = pts.length ? pts[0].balance - pts[0].delta : now;
        const end = pts.length ? pts[pts.length - 1].balance : now;
        return { dept: d, color: COLORS[Math.max(0, depts.indexOf(d)) % COLORS.length], series: s, start, end };
      });
  }, [chosen, series, balances]);

  const toggle = (d: string) => {
    const c = chosen ?? [];
    setChosen(c.includes(d) ? c.filter((x) => x !== d) : [...c, d]);
  };

  return (
    <div class="view" data-testid="view-points">
      <h1>{t("viewPoints")}</h1>
      <div class="two-col">
        <section class="card" aria-labelledby="bal-h">
          <h2 id="bal-h">{t("pointsTitle")}</h2>
          <ErrorBox error={balErr} />
          {!balances && !balErr && <Loading />}
          {balances && (
            <>
              <table class="compact" data-testid="balances-table">
                <thead>
                  <tr>
                    <th scope="col">{t("colDept")}</th>
                    <th scope="col" class="num">
                      {t("colBalance")}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {balances.balances.map((b) => (
                    <tr key={b.department}>
                      <th scope="row">
                        {b.department}
                        <br />
                        <span class="muted small">{deptName(app.depts, b.department)}</span>
                      </th>
                      <td class="num">{b.balance.toLocaleString()}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {balances.genesis !== undefined && (
                <p class="muted small">{t("supply", balances.genesis ?? 0, balances.minted ?? 0, balances.burned ?? 0, balances.height ?? app.info.height)}</p>
              )}
            </>
          )}
        </section>
        <section class="card grow" aria-labelledby="hist-h">
          <div class="view-head">
            <h2 id="hist-h">{t("historyTitle")}</h2>
            {picker}
          </div>
          <fieldset class="depts">
            <legend>{t("chooseDepts")}</legend>
            {depts.map((d) => (
              <label key={d} class="check">
                <input type="checkbox" checked={chosen?.includes(d) ?? false} onChange={() => toggle(d)} data-testid="points-dept" value={d} />
                <i class="swatch" style={{ background: COLORS[depts.indexOf(d) % COLORS.length] }} /> {d}
              </label>
            ))}
          </fieldset>
          <RangeNote {...range} />
          <ErrorBox error={histErr} />
          {loading && <Loading />}
          {chosen && !chosen.length && <p class="muted">{t("noDepts")}</p>}
          {Object.values(series).some((s) => s.complete === false) && <p class="warn">{t("partialShort")}</p>}
          {lines.length > 0 && <BalanceChart lines={lines} range={range} />}
          {lines.map((l) =>
            l.series.points.length ? (
              <details key={l.dept} class="events">
                <summary>
                  {l.dept}: {t("eventsTable", Math.min(50, l.series.points.length))}
                </summary>
                <table class="compact">
                  <thead>
                    <tr>
                      <th scope="col">{t("colTime")}</th>
                      <th scope="col" class="num">
                        {t("colDelta")}
                      </th>
                      <th scope="col" class="num">
                        {t("colBalance")}
                      </th>
                      <th scope="col">{t("colKind")}</th>
                      <th scope="col">{t("colCounterparty")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {[...l.series.points]
                      .sort((a, b) => b.time_ms - a.time_ms || b.seq - a.seq)
                      .slice(0, 50)
                      .map((p) => (
                        <tr key={p.seq}>
                          <td class="mono small">{fmtTime(p.time_ms)}</td>
                          <td class="num">{p.delta > 0 ? `+${p.delta}` : p.delta}</td>
                          <td class="num">{p.balance}</td>
                          <td>{p.kind}</td>
                          <td>{p.counterparty}</td>
                        </tr>
                      ))}
                  </tbody>
                </table>
              </details>
            ) : null,
          )}
        </section>
      </div>
    </div>
  );
}
