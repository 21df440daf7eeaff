import { api, type Equivocation, type Finding } from "../api";
import { ErrorBox, Loading, RangeNote, usePeriod, useRangeData } from "../components/common";
import { RecordTable } from "../components/RecordTable";
import { useApp } from "../context";
import { lang, t } from "../i18n";
import { deptName } from "../names";
import { fmtTime, short } from "../time";

function stepLabel(step: Equivocation["step"]): string {
  return step === "prevote" ? t("stepPrevote") : step === "precommit" ? t("stepPrecommit") : t("stepProposal");
}

/** Validators caught signing twice: the chain's own misbehaviour, above the departments'. */
function Equivocations({ list }: { list: Equivocation[] }) {
  return (
    <section class="card" aria-labelledby="equivocations-h" data-testid="equivocations">
      <h2 id="equivocations-h">
        {t("equivocationsTitle")}{" "}
        <span class={list.length ? "count deny" : "count"} data-testid="equivocation-count">
          {list.length}
        </span>
      </h2>
      <p class="muted small">{t("equivocationsHelp")}</p>
      {list.length ? (
        <div class="table-wrap">
          <table class="findings" data-testid="equivocations-table">
            <thead>
              <tr>
                <th scope="col">{t("colValidator")}</th>
                <th scope="col">{t("colStep")}</th>
                <th scope="col" class="num">
                  {t("colAt")}
                </th>
                <th scope="col">{t("colReporter")}</th>
                <th scope="col">{t("colRecorded")}</th>
              </tr>
            </thead>
            <tbody>
              {list.map((e) => (
                <tr key={`${e.validator}-${e.height}-${e.round}-${e.step}`} data-testid="equivocation">
                  <td>{e.validator}</td>
                  <td>{stepLabel(e.step)}</td>
                  <td class="num">
                    {e.height} / {e.round}
                  </td>
                  <td>{e.reporter}</td>
                  <td>
                    #{e.recorded_height} · {fmtTime(e.recorded_time_ms)}
                    <br />
                    <span class="muted small mono" title={e.tx_hash}>
                      {short(e.tx_hash)}
                    </span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p class="muted">{t("noEquivocations")}</p>
      )}
    </section>
  );
}

function ruleLabel(rule: Finding["rule"]): string {
  return rule === "volume" ? t("ruleVolume") : rule === "off_hours" ? t("ruleOffHours") : rule === "rare_purpose" ? t("ruleRare") : rule;
}

/** Denied reads first, then unusual activity, over a period. */
export function Alerts() {
  const app = useApp();
  const { range, picker } = usePeriod("alerts", app.info.tip_time_ms);
  const { data, error } = useRangeData(range, api.insights);

  return (
    <div class="view" data-testid="view-alerts">
      <div class="view-head">
        <h1>{t("alertsTitle")}</h1>
        {picker}
      </div>
      <ErrorBox error={error} />
      {!data && !error && <Loading />}
      {data && (
        <>
          <RangeNote from_ms={data.from_ms} to_ms={data.to_ms} />
          {data.complete === false && <p class="warn">{t("partialShort")}</p>}
          <Equivocations list={data.equivocations ?? []} />
          <section class="card" aria-labelledby="denied-h">
            <h2 id="denied-h">
              {t("deniedTitle")} <span class="count deny" data-testid="denied-count">{data.denied.length}</span>
            </h2>
            {data.denied.length ? (
              <RecordTable records={data.denied} caption={t("deniedTitle")} testid="denied-table" rowTestid="denied-row" />
            ) : (
              <p class="muted">{t("noDenied")}</p>
            )}
          </section>
          <section class="card" aria-labelledby="findings-h">
            <h2 id="findings-h">
              {t("findingsTitle")} <span class="count">{data.findings.length}</span>
            </h2>
            <p class="muted small">{t("rulesHelp")}</p>
            {data.findings.length ? (
              <div class="table-wrap">
                <table class="findings" data-testid="findings-table">
                  <thead>
                    <tr>
                      <th scope="col">{t("colRule")}</th>
                      <th scope="col">{t("colDept")}</th>
                      <th scope="col">{t("colSummary")}</th>
                      <th scope="col" class="num">
                        {t("colCount")}
                      </th>
                      <th scope="col">{t("colRecords")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.findings.map((f, i) => (
                      <tr key={i} data-testid="finding" data-rule={f.rule}>
                        <td>
                          <span class={`rule rule-${f.rule}`}>{ruleLabel(f.rule)}</span>
                        </td>
                        <td>
                          {f.department}
                          <br />
                          <span class="muted small">{deptName(app.depts, f.department)}</span>
                        </td>
                        <td class="break">{lang() === "zh" ? f.summary_zh || f.summary : f.summary}</td>
                        <td class="num">{f.count}</td>
                        <td>
                          <ul class="seqs">
                            {f.records.map((s) => (
                              <li key={s}>
                                <button
                                  type="button"
                                  class="link"
                                  aria-label={t("openRecord", s)}
                                  data-testid="finding-record"
                                  onClick={(e) => app.openRecord(s, e.currentTarget as HTMLElement)}
                                >
                                  #{s}
                                </button>
                              </li>
                            ))}
                          </ul>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : (
              <p class="muted">{t("noFindings")}</p>
            )}
          </section>
        </>
      )}
    </div>
  );
}
