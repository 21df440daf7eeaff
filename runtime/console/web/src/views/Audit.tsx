import { useEffect, useMemo, useState } from "preact/hooks";
import { api, type AuditPage } from "../api";
import { describeError, ErrorBox, Loading } from "../components/common";
import { RecordTable } from "../components/RecordTable";
import { useApp } from "../context";
import { t } from "../i18n";
import { deptName } from "../names";
import { dateEndMs, dateStartMs, fileStamp } from "../time";
import { errText, getVerifier } from "../wasm";

const PAGE = 50;

interface Filters {
  subject_id?: string;
  requester?: string;
  owner?: string;
  purpose?: string;
  decision?: string;
  from_ms?: number;
  to_ms?: number;
}

interface Form {
  nationalId: string;
  requester: string;
  owner: string;
  purpose: string;
  decision: string;
  from: string;
  to: string;
}

const EMPTY: Form = { nationalId: "", requester: "", owner: "", purpose: "", decision: "", from: "", to: "" };

function download(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The audit log: search form, a page of records, paging, exports. */
export function Audit() {
  const app = useApp();
  const [form, setForm] = useState<Form>(EMPTY);
  const [formErr, setFormErr] = useState("");
  const [subject, setSubject] = useState("");
  const [filters, setFilters] = useState<Filters | null>(null);
  const [stack, setStack] = useState<number[]>([0]); // the `after` of each page shown so far
  const [page, setPage] = useState<AuditPage | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [seen, setSeen] = useState<Set<string>>(new Set());
  const [exportMsg, setExportMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const [exporting, setExporting] = useState(false);

  const after = stack[stack.length - 1];
  useEffect(() => {
    if (!filters) return;
    let live = true;
    setLoading(true);
    setError(null);
    api.audit({ ...filters, after: after || undefined, limit: PAGE }).then(
      (p) => {
        if (!live) return;
        setPage(p);
        setLoading(false);
        setSeen((old) => {
          const n = new Set(old);
          p.records.forEach((r) => r.purpose && n.add(r.purpose));
          return n.size === old.size ? old : n;
        });
      },
      (e) => {
        if (!live) return;
        setError(e);
        setPage(null);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [filters, after]);

  // Show every record of the signed-in scope at first.
  useEffect(() => setFilters({}), []);

  const purposes = useMemo(() => {
    const all = new Set<string>(seen);
    app.genesis.access?.purposes?.forEach((p) => all.add(p.id));
    return Array.from(all).sort();
  }, [seen, app.genesis]);

  const set = (k: keyof Form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });

  const submit = async (e: Event) => {
    e.preventDefault();
    setFormErr("");
    const f: Filters = {};
    const id = form.nationalId.trim();
    if (id) {
      try {
        const [v, { salt }] = await Promise.all([getVerifier(), api.salt()]);
        f.subject_id = v.subjectId(salt, app.genesis.salt_commitment, id);
      } catch (err) {
        setSubject("");
        setFormErr(t("badId", errText(err)));
        return;
      }
    }
    setSubject(f.subject_id ?? "");
    if (form.requester) f.requester = form.requester;
    if (form.owner) f.owner = form.owner;
    if (form.purpose.trim()) f.purpose = form.purpose.trim();
    if (form.decision) f.decision = form.decision;
    if (form.from) f.from_ms = dateStartMs(form.from) ?? undefined;
    if (form.to) f.to_ms = dateEndMs(form.to) ?? undefined;
    if (f.from_ms !== undefined && f.to_ms !== undefined && f.from_ms > f.to_ms) {
      setFormErr(t("badRange"));
      return;
    }
    setStack([0]);
    setFilters(f);
  };

  const reset = () => {
    setForm(EMPTY);
    setSubject("");
    setFormErr("");
    setStack([0]);
    setFilters({});
  };

  const doExport = async (format: "json" | "csv") => {
    if (!filters) return;
    setExporting(true);
    setExportMsg(null);
    try {
      const res = await api.exportFile({ ...filters, limit: 1000 }, format);
      const blob = await res.blob();
      const name = `govchain-audit-${app.info.chain_id}-${fileStamp(Date.now())}${format === "json" ? ".json" : ".csv"}`;
      download(blob, name);
      setExportMsg({ ok: true, text: t("exported", name) });
    } catch (err) {
      setExportMsg({ ok: false, text: t("errorPrefix") + describeError(err) });
    } finally {
      setExporting(false);
    }
  };

  const deptOptions = app.depts.map((d) => (
    <option value={d.id} key={d.id}>
      {d.id} — {deptName(app.depts, d.id)}
    </option>
  ));

  return (
    <div class="view" data-testid="view-audit">
      <h1>{t("viewAudit")}</h1>
      <form class="card search" onSubmit={submit} aria-labelledby="search-h" data-testid="audit-form">
        <h2 id="search-h">{t("searchTitle")}</h2>
        <div class="grid">
          <div class="field wide">
            <label for="f-id">{t("nationalId")}</label>
            <input
              id="f-id"
              type="text"
              inputMode="text"
              autocomplete="off"
              spellcheck={false}
              maxLength={18}
              value={form.nationalId}
              onInput={set("nationalId")}
              aria-describedby="f-id-help"
              data-testid="audit-national-id"
            />
            <p id="f-id-help" class="muted small">
              {t("nationalIdHelp")}
            </p>
          </div>
          <div class="field">
            <label for="f-req">{t("requester")}</label>
            <select id="f-req" value={form.requester} onChange={set("requester")} data-testid="audit-requester">
              <option value="">{t("any")}</option>
              {deptOptions}
            </select>
          </div>
          <div class="field">
            <label for="f-own">{t("owner")}</label>
            <select id="f-own" value={form.owner} onChange={set("owner")} data-testid="audit-owner">
              <option value="">{t("any")}</option>
              {deptOptions}
            </select>
          </div>
          <div class="field">
            <label for="f-purpose">{t("purpose")}</label>
            <input id="f-purpose" type="text" list="purpose-list" value={form.purpose} onInput={set("purpose")} title={t("purposeHelp")} data-testid="audit-purpose" />
            <datalist id="purpose-list">
              {purposes.map((p) => (
                <option value={p} key={p} />
              ))}
            </datalist>
          </div>
          <div class="field">
            <label for="f-dec">{t("decision")}</label>
            <select id="f-dec" value={form.decision} onChange={set("decision")} data-testid="audit-decision">
              <option value="">{t("decisionAll")}</option>
              <option value="allow">{t("decisionAllow")}</option>
              <option value="deny">{t("decisionDeny")}</option>
            </select>
          </div>
          <div class="field">
            <label for="f-from">{t("fromDate")}</label>
            <input id="f-from" type="date" value={form.from} onInput={set("from")} data-testid="audit-from" />
          </div>
          <div class="field">
            <label for="f-to">{t("toDate")}</label>
            <input id="f-to" type="date" value={form.to} onInput={set("to")} data-testid="audit-to" />
          </div>
        </div>
        <div class="form-foot">
          <button type="submit" class="primary" data-testid="audit-search">
            {t("search")}
          </button>
          <button type="button" onClick={reset}>
            {t("reset")}
          </button>
          <span class="muted small">{t("cstNote")}</span>
          {subject && (
            <span class="small" data-testid="subject-hash">
              {t("subjectSent")}
              <code class="mono">{subject}</code>
            </span>
          )}
        </div>
        {formErr && (
          <p class="error" role="alert" data-testid="audit-form-error">
            {formErr}
          </p>
        )}
      </form>

      <section class="card" aria-labelledby="results-h">
        <div class="results-head">
          <h2 id="results-h">{t("results")}</h2>
          <div class="row-actions">
            <span class="muted small">{t("exportNote")}</span>
            <button type="button" onClick={() => doExport("json")} disabled={exporting || !filters} data-testid="export-json">
              {t("exportJson")}
            </button>
            <button type="button" onClick={() => doExport("csv")} disabled={exporting || !filters} data-testid="export-csv">
              {t("exportCsv")}
            </button>
          </div>
        </div>
        <div aria-live="polite">
          {exporting && <p class="muted small">{t("exporting")}</p>}
          {exportMsg && (
            <p class={exportMsg.ok ? "ok small" : "error small"} data-testid="export-status">
              {exportMsg.text}
            </p>
          )}
        </div>
        <ErrorBox error={error} />
        {loading && <Loading />}
        {page && !loading && (
          <>
            <p class="muted small" role="status" data-testid="audit-count">
              {t("resultsCount", stack.length, page.records.length, page.scanned)} {page.records.length > 0 && t("rowHint")}
            </p>
            {page.records.length ? (
              <RecordTable records={page.records} caption={t("results")} testid="audit-table" rowTestid="audit-row" />
            ) : (
              <p class="muted" data-testid="audit-empty">
                {t("noRecords")}
              </p>
            )}
          </>
        )}
        <nav class="pager" aria-label={t("results")}>
          <button type="button" disabled={stack.length <= 1 || loading} onClick={() => setStack(stack.slice(0, -1))} data-testid="page-prev">
            ← {t("prevPage")}
          </button>
          <span class="muted small">{stack.length}</span>
          <button
            type="button"
            disabled={!page || !page.next || loading}
            onClick={() => page && setStack([...stack, page.next])}
            data-testid="page-next"
          >
            {t("nextPage")} →
          </button>
        </nav>
      </section>
    </div>
  );
}
