import { useEffect, useRef, useState } from "preact/hooks";
import { api, type RecordDetail } from "../api";
import { useApp } from "../context";
import { t, type Key } from "../i18n";
import { certTypeName, deptName } from "../names";
import { fmtTime, short } from "../time";
import { errText, getVerifier } from "../wasm";
import { Badges, ErrorBox, Loading } from "./common";

type Row = [Key, string | number | undefined | null, ("mono" | "wrap")?];

function Fields({ rows }: { rows: Row[] }) {
  return (
    <dl class="fields">
      {rows
        .filter(([, v]) => v !== undefined && v !== null && v !== "")
        .map(([k, v, cls]) => (
          <div key={k}>
            <dt>{t(k)}</dt>
            <dd class={cls === "mono" ? "mono break" : "break"}>{String(v)}</dd>
          </div>
        ))}
    </dl>
  );
}

type Verdict = { ok: true; text: string } | { ok: false; text: string } | null;

/** One audit record with its transaction, block and proof, and the in-browser Verify. */
export function Drawer({ seq, onClose }: { seq: number; onClose: () => void }) {
  const app = useApp();
  const [detail, setDetail] = useState<RecordDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [verdict, setVerdict] = useState<Verdict>(null);
  const [busy, setBusy] = useState(false);
  const panel = useRef<HTMLDivElement>(null);
  const closeBtn = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    let live = true;
    setDetail(null);
    setError(null);
    setVerdict(null);
    api.record(seq).then(
      (d) => live && setDetail(d),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [seq]);

  useEffect(() => {
    closeBtn.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.preventDefault();
        onClose();
      } else if (e.key === "Tab" && panel.current) {
        // keep focus inside the dialog
        const items = panel.current.querySelectorAll<HTMLElement>(
          'button:not([disabled]), a[href], input, select, textarea, [tabindex]:not([tabindex="-1"])',
        );
        if (!items.length) return;
        const first = items[0];
        const last = items[items.length - 1];
        if (e.shiftKey && document.activeElement === first) {
          e.preventDefault();
          last.focus();
        } else if (!e.shiftKey && document.activeElement === last) {
          e.preventDefault();
          first.focus();
        }
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [onClose]);

  const verify = async () => {
    if (!detail) return;
    const anchor = app.anchor;
    if (!anchor) {
      setVerdict({ ok: false, text: t("verifiedFail", t("verifyNoGenesis")) });
      return;
    }
    setBusy(true);
    setVerdict(null);
    try {
      const v = await getVerifier();
      const r = v.verifyExport(detail.proof, anchor.text);
      if (r.ok) {
        setVerdict({ ok: true, text: t("verifiedOk", detail.block.proposer ?? "?", short(anchor.hash, 12), r.records, r.headers) });
      } else {
        setVerdict({ ok: false, text: t("verifiedFail", r.error) });
      }
    } catch (e) {
      setVerdict({ ok: false, text: t("verifiedFail", errText(e)) });
    } finally {
      setBusy(false);
    }
  };

  const r = detail?.record;
  const exported = detail?.proof.records.find((x) => x.record.seq === seq) ?? detail?.proof.records[0];
  const header = detail?.proof.headers.find((h) => h.height === r?.height) ?? detail?.proof.headers[0];
  return (
    <div class="drawer-backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="drawer" role="dialog" aria-modal="true" aria-labelledby="drawer-title" ref={panel} data-testid="drawer">
        <div class="drawer-head">
          <h2 id="drawer-title">{t("recordTitle", seq)}</h2>
          <button type="button" class="ghost" ref={closeBtn} onClick={onClose} data-testid="drawer-close" aria-label={t("close")}>
            ✕ {t("close")}
          </button>
        </div>
        <ErrorBox error={error} />
        {!detail && !error && <Loading />}
        {detail && r && (
          <div class="drawer-body">
            <div class="verify-box">
              <button type="button" class="primary" onClick={verify} disabled={busy} data-testid="verify">
                {t("verify")}
              </button>
              <p class="muted small">{t("verifyHelp")}</p>
              {busy && (
                <p role="status" class="muted">
                  {t("verifying")}
                </p>
              )}
              <div aria-live="polite">
                {verdict && (
                  <p class={verdict.ok ? "verdict ok" : "verdict fail"} data-testid="verify-result" data-ok={String(verdict.ok)}>
                    {verdict.ok ? "✔ " : "✘ "}
                    {verdict.text}
                  </p>
                )}
              </div>
            </div>
            <h3>{t("secRecord")}</h3>
            <p>
              <Badges record={r} />
            </p>
            <Fields
              rows={[
                ["fSeq", r.seq],
                ["fTime", fmtTime(r.time_ms)],
                ["fHeight", r.height],
                ["fRequester", `${r.requester} — ${deptName(app.depts, r.requester)}`],
                ["fOperator", r.operator],
                ["fOwner", `${r.owner} — ${deptName(app.depts, r.owner)}`],
                ["fSubject", r.subject_id, "mono"],
                ["fCertType", `${r.cert_type} — ${certTypeName(app.genesis, r.cert_type)}`],
                ["fCertId", r.cert_id, "mono"],
                ["fPurpose", r.purpose],
                ["fDecision", r.decision],
                ["fAction", r.action],
                ["fReason", r.reason],
                ["fPoints", r.points],
                ["fVia", r.via],
                ["fGrant", r.grant_id || undefined],
                ["fRequest", r.request || undefined],
              ]}
            />
            <h3>{t("secTx")}</h3>
            <Fields
              rows={[
                ["fHash", detail.transaction.hash ?? r.tx_hash, "mono"],
                ["fSender", detail.transaction.sender],
                ["fOperator", detail.transaction.operator],
                ["fNonce", detail.transaction.nonce],
                ["fPayload", detail.transaction.payload],
                ["fStatus", detail.transaction.status],
                ["fIndex", detail.transaction.index],
                ["fError", detail.transaction.error],
              ]}
            />
            <h3>{t("secBlock")}</h3>
            <Fields
              rows={[
                ["fHeight", detail.block.height],
                ["fBlockHash", detail.block.hash, "mono"],
                ["fBlockTime", detail.block.time_ms !== undefined ? fmtTime(detail.block.time_ms) : undefined],
                ["fProposer", detail.block.proposer],
                ["fTxCount", detail.block.tx_count],
                ["fAuditCount", detail.block.audit_count],
                ["fAuditRoot", detail.block.audit_root, "mono"],
                ["fStateRoot", detail.block.state_root, "mono"],
              ]}
            />
            <h3>{t("secProof")}</h3>
            {exported && (
              <>
                <Fields
                  rows={[
                    ["fLeaf", `${exported.proof.leaf_index} / ${exported.proof.tree_size}`],
                    ["fSignature", header?.signature, "mono"],
                  ]}
                />
                <p class="label">{t("fPath")}</p>
                {exported.proof.path.length ? (
                  <ol class="path mono small" data-testid="proof-path">
                    {exported.proof.path.map((h, i) => (
                      <li key={i} class="break">
                        {h}
                      </li>
                    ))}
                  </ol>
                ) : (
                  <p class="muted small">{t("pathEmpty")}</p>
                )}
              </>
            )}
          </div>
        )}
      </div>
    </div>
  );
}

