import { useMemo, useState } from "preact/hooks";
import { api, type Flow, type GenesisDepartment } from "../api";
import { ErrorBox, Loading, RangeNote, usePeriod, useRangeData } from "../components/common";
import { useApp } from "../context";
import { t } from "../i18n";
import { deptName, deptShort } from "../names";

const W = 960;
const LABEL = 210; // room for the labels on either side
const BAR = 12;
const GAP = 18;
const TOP = 16;

interface Band {
  flow: Flow;
  kind: "allow" | "deny";
  count: number;
  w: number;
  y0: number; // at the requester
  y1: number; // at the owner
}

interface Node {
  id: string;
  total: number;
  y: number;
  h: number;
}

interface Layout {
  bands: Band[];
  left: Node[];
  right: Node[];
  height: number;
}

/**
 * Requesters on the left, owners on the right, one ribbon per (pair, decision). Widths
 * grow with the square root of reads so that one busy pair does not hide all others.
 */
function layout(flows: Flow[]): Layout {
  const bands: Band[] = [];
  for (const f of flows) {
    if (f.allowed > 0) bands.push({ flow: f, kind: "allow", count: f.allowed, w: 0, y0: 0, y1: 0 });
    if (f.denied > 0) bands.push({ flow: f, kind: "deny", count: f.denied, w: 0, y0: 0, y1: 0 });
  }
  const totals = (key: "requester" | "owner") => {
    const m = new Map<string, number>();
    for (const f of flows) m.set(f[key], (m.get(f[key]) ?? 0) + f.allowed + f.denied);
    return Array.from(m.entries())
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([id, total]) => ({ id, total, y: 0, h: 0 }));
  };
  const left = totals("requester");
  const right = totals("owner");
  const rawMax = Math.max(1, ...bands.map((b) => Math.sqrt(b.count)));
  const rawSum = bands.reduce((s, b) => s + Math.sqrt(b.count), 0) || 1;
  const target = Math.max(260, Math.min(520, 60 + bands.length * 22));
  const gaps = Math.max(left.length, right.length) * GAP;
  const k = Math.min((target - gaps) / rawSum, 48 / rawMax);
  for (const b of bands) b.w = Math.max(2.5, Math.sqrt(b.count) * k);

  const rank = (nodes: Node[]) => new Map(nodes.map((n, i) => [n.id, i]));
  const lr = rank(left);
  const rr = rank(right);
  const order = (b: Band) => (b.kind === "allow" ? 0 : 1);
  const place = (nodes: Node[], side: "requester" | "owner") => {
    const other = side === "requester" ? rr : lr;
    const otherKey = side === "requester" ? "owner" : "requester";
    let y = TOP;
    for (const n of nodes) {
      n.y = y;
      const mine = bands
        .filter((b) => b.flow[side] === n.id)
        .sort((a, b) => (other.get(a.flow[otherKey]) ?? 0) - (other.get(b.flow[otherKey]) ?? 0) || order(a) - order(b));
      let yy = y;
      for (const b of mine) {
        if (side === "requester") b.y0 = yy;
        else b.y1 = yy;
        yy += b.w;
      }
      n.h = Math.max(yy - y, 2);
      y += n.h + GAP;
    }
    return y - GAP;
  };
  const hl = place(left, "requester");
  const hr = place(right, "owner");
  // centre the shorter column
  const height = Math.max(hl, hr) + TOP;
  const shift = (nodes: Node[], h: number, side: "y0" | "y1") => {
    const d = (Math.max(hl, hr) - h) / 2;
    if (d <= 0) return;
    nodes.forEach((n) => (n.y += d));
    bands.forEach((b) => {
      if (nodes.some((n) => n.id === (side === "y0" ? b.flow.requester : b.flow.owner))) b[side] += d;
    });
  };
  shift(left, hl, "y0");
  shift(right, hr, "y1");
  // draw the thin ones last so that they stay visible
  bands.sort((a, b) => b.w - a.w);
  return { bands, left, right, height };
}

function ribbon(b: Band): string {
  const x0 = LABEL + BAR;
  const x1 = W - LABEL - BAR;
  const xm = (x0 + x1) / 2;
  return `M${x0},${b.y0} C${xm},${b.y0} ${xm},${b.y1} ${x1},${b.y1} L${x1},${b.y1 + b.w} C${xm},${b.y1 + b.w} ${xm},${b.y0 + b.w} ${x0},${b.y0 + b.w} Z`;
}

function tip(depts: GenesisDepartment[], f: Flow): string {
  return t("flowTip", deptShort(depts, f.requester), deptShort(depts, f.owner), f.allowed, f.denied, f.points);
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

export function FlowDiagram({ flows, depts }: { flows: Flow[]; depts: GenesisDepartment[] }) {
  const l = useMemo(() => layout(flows), [flows]);
  const [focus, setFocus] = useState<Band | null>(null);
  const label = (id: string, total: number) => `${clip(deptShort(depts, id), 14)} (${total})`;
  const active = (id: string, side: "requester" | "owner") => focus !== null && focus.flow[side] === id;
  return (
    <figure class="flows-figure">
      <div class="legend" aria-hidden="true">
        <span>
          <i class="swatch allow" /> {t("legendAllowed")}
        </span>
        <span>
          <i class="swatch deny" /> {t("legendDenied")}
        </span>
        <span class="muted small">{t("legendScale")}</span>
      </div>
      <p class="flow-tip" aria-live="polite" data-testid="flow-tip">
        {focus ? tip(depts, focus.flow) : "\u00a0"}
      </p>
      <svg
        viewBox={`0 0 ${W} ${l.height + 24}`}
        class="flows-svg"
        role="group"
        aria-label={t("flowsTitle")}
        data-testid="flows-svg"
        onMouseLeave={() => setFocus(null)}
      >
        <text x={LABEL + BAR / 2} y={10} class="axis-title" text-anchor="middle">
          {t("requesters")}
        </text>
        <text x={W - LABEL - BAR / 2} y={10} class="axis-title" text-anchor="middle">
          {t("owners")}
        </text>
        <g transform="translate(0,10)">
          {l.bands.map((b) => (
            <path
              key={`${b.flow.requester}>${b.flow.owner}:${b.kind}`}
              d={ribbon(b)}
              class={`band ${b.kind}${focus === b ? " on" : ""}`}
              tabIndex={0}
              role="img"
              aria-label={tip(depts, b.flow)}
              data-testid="flow-band"
              data-kind={b.kind}
              data-count={b.count}
              onMouseEnter={() => setFocus(b)}
              onFocus={() => setFocus(b)}
              onBlur={() => setFocus(null)}
            >
              <title>{tip(depts, b.flow)}</title>
            </path>
          ))}
          {l.left.map((n) => (
            <g key={`l-${n.id}`} class={active(n.id, "requester") ? "node on" : "node"}>
              <rect x={LABEL} y={n.y} width={BAR} height={n.h} rx={2} />
              <text x={LABEL - 8} y={n.y + n.h / 2} text-anchor="end" dominant-baseline="middle">
                <title>{`${n.id} — ${deptName(depts, n.id)}`}</title>
                {label(n.id, n.total)}
              </text>
            </g>
          ))}
          {l.right.map((n) => (
            <g key={`r-${n.id}`} class={active(n.id, "owner") ? "node on" : "node"}>
              <rect x={W - LABEL - BAR} y={n.y} width={BAR} height={n.h} rx={2} />
              <text x={W - LABEL + 8} y={n.y + n.h / 2} dominant-baseline="middle">
                <title>{`${n.id} — ${deptName(depts, n.id)}`}</title>
                {label(n.id, n.total)}
              </text>
            </g>
          ))}
        </g>
      </svg>
    </figure>
  );
}

export function Flows() {
  const app = useApp();
  const { range, picker } = usePeriod("flows", app.info.tip_time_ms);
  const { data, error } = useRangeData(range, api.flows);

  const rows = useMemo(
    () => (data ? [...data.flows].sort((a, b) => b.allowed + b.denied - (a.allowed + a.denied) || a.requester.localeCompare(b.requester)) : []),
    [data],
  );
  const sum = rows.reduce((s, f) => ({ allowed: s.allowed + f.allowed, denied: s.denied + f.denied, points: s.points + f.points }), { allowed: 0, denied: 0, points: 0 });

  return (
    <div class="view" data-testid="view-flows">
      <div class="view-head">
        <h1>{t("flowsTitle")}</h1>
        {picker}
      </div>
      <ErrorBox error={error} />
      {!data && !error && <Loading />}
      {data && (
        <>
          <RangeNote from_ms={data.from_ms} to_ms={data.to_ms} />
          {!data.complete && <p class="warn">{t("partial", data.scanned)}</p>}
          <section class="card">
            <p class="muted small">{t("flowsIntro")}</p>
            {rows.some((f) => f.allowed + f.denied > 0) ? <FlowDiagram flows={rows} depts={app.depts} /> : <p class="muted">{t("noFlows")}</p>}
          </section>
          <section class="card" aria-labelledby="flows-table-h">
            <h2 id="flows-table-h">{t("flowsTable")}</h2>
            <div class="table-wrap">
              <table data-testid="flows-table" class="compact">
                <thead>
                  <tr>
                    <th scope="col">{t("colRequester")}</th>
                    <th scope="col">{t("colOwner")}</th>
                    <th scope="col" class="num">
                      {t("colAllowed")}
                    </th>
                    <th scope="col" class="num">
                      {t("colDenied")}
                    </th>
                    <th scope="col" class="num">
                      {t("colPoints")}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((f) => (
                    <tr key={`${f.requester}>${f.owner}`} data-testid="flow-row">
                      <th scope="row">
                        {f.requester} <span class="muted small">{deptName(app.depts, f.requester)}</span>
                      </th>
                      <td>
                        {f.owner} <span class="muted small">{deptName(app.depts, f.owner)}</span>
                      </td>
                      <td class="num">{f.allowed}</td>
                      <td class={f.denied ? "num deny-text" : "num"}>{f.denied}</td>
                      <td class="num">{f.points}</td>
                    </tr>
                  ))}
                </tbody>
                <tfoot>
                  <tr>
                    <th scope="row" colSpan={2}>
                      {t("total")}
                    </th>
                    <td class="num">{sum.allowed}</td>
                    <td class="num">{sum.denied}</td>
                    <td class="num">{sum.points}</td>
                  </tr>
                </tfoot>
              </table>
            </div>
          </section>
        </>
      )}
    </div>
  );
}
