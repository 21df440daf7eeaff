import type { AuditRecord } from "../api";
import { useApp } from "../context";
import { t } from "../i18n";
import { certTypeName, deptName } from "../names";
import { fmtTime, short } from "../time";
import { Badges } from "./common";

/**
 * Audit records as a table. Each row is focusable; Enter or a click opens the record
 * drawer, and focus comes back to the row when it closes.
 */
export function RecordTable({ records, caption, testid, rowTestid }: { records: AuditRecord[]; caption: string; testid: string; rowTestid: string }) {
  const app = useApp();
  const open = (r: AuditRecord, el: HTMLElement) => app.openRecord(r.seq, el);
  return (
    <div class="table-wrap">
      <table class="records" data-testid={testid}>
        <caption class="sr-only">
          {caption}. {t("rowHint")}
        </caption>
        <colgroup>
          <col class="c-time" />
          <col class="c-dept" />
          <col class="c-dept" />
          <col class="c-cert" />
          <col class="c-purpose" />
          <col class="c-decision" />
          <col class="c-points" />
          <col class="c-reason" />
        </colgroup>
        <thead>
          <tr>
            <th scope="col">{t("colTime")}</th>
            <th scope="col">{t("colRequester")}</th>
            <th scope="col">{t("colOwner")}</th>
            <th scope="col">{t("colCert")}</th>
            <th scope="col">{t("colPurpose")}</th>
            <th scope="col">{t("colDecision")}</th>
            <th scope="col" class="num">
              {t("colPoints")}
            </th>
            <th scope="col">{t("colReason")}</th>
          </tr>
        </thead>
        <tbody>
          {records.map((r) => (
            <tr
              key={r.seq}
              tabIndex={0}
              class={r.decision === "deny" ? "row deny" : "row"}
              data-testid={rowTestid}
              data-seq={r.seq}
              data-requester={r.requester}
              data-owner={r.owner}
              aria-label={`#${r.seq} ${fmtTime(r.time_ms)} ${r.requester} → ${r.owner} ${r.decision}`}
              onClick={(e) => open(r, e.currentTarget as HTMLElement)}
              onKeyDown={(e) => {
                if (e.key === "Enter" || e.key === " ") {
                  e.preventDefault();
                  open(r, e.currentTarget as HTMLElement);
                }
              }}
            >
              <td class="nowrap">
                <span class="mono small">{fmtTime(r.time_ms)}</span>
                <br />
                <span class="muted small">#{r.seq}</span>
              </td>
              <td title={deptName(app.depts, r.requester)}>
                {r.requester}
                {r.operator && <span class="muted small"> / {r.operator}</span>}
                {r.via && (
                  <>
                    <br />
                    <span class="muted small">{t("via", r.via)}</span>
                  </>
                )}
              </td>
              <td title={deptName(app.depts, r.owner)}>{r.owner}</td>
              <td>
                {certTypeName(app.genesis, r.cert_type)}
                <br />
                <span class="mono small muted" title={r.cert_id}>
                  {short(r.cert_id, 6)}
                </span>
              </td>
              <td class="break">{r.purpose}</td>
              <td>
                <Badges record={r} />
              </td>
              <td class="num">{r.points}</td>
              <td class="break small">{r.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
