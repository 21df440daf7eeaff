import { useState } from "preact/hooks";
import type { Info, Session } from "../api";
import { lang, t } from "../i18n";
import { fmtDate, short } from "../time";
import { isTrusted, type Anchor, type TrustState } from "../trust";

// Icons are inline SVG: no icon font, and nothing depends on the machine's emoji fonts.
function LockIcon() {
  return (
    <svg class="icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <rect x="3" y="7" width="10" height="8" rx="1.5" fill="currentColor" />
      <path d="M5 7V5a3 3 0 0 1 6 0v2" fill="none" stroke="currentColor" stroke-width="1.6" />
    </svg>
  );
}

function ChainIcon() {
  return (
    <svg class="icon logo" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
      <rect x="1.5" y="6" width="9" height="8" rx="4" fill="none" stroke="currentColor" stroke-width="2" />
      <rect x="9.5" y="6" width="9" height="8" rx="4" fill="none" stroke="currentColor" stroke-width="2" />
    </svg>
  );
}

export interface TrustActions {
  useFile: (f: File) => Promise<string | null>;
  useServed: () => void;
  accept: () => void;
}

function trustLabel(s: TrustState): string {
  switch (s.kind) {
    case "ok":
      return t("trustOk");
    case "first":
      return t("trustFirst");
    case "changed":
      return t("trustChanged");
    case "mismatch":
      return t("trustMismatch");
    case "own":
      return s.matchesNode ? t("trustOwnShort") : t("trustOwnBad");
    case "error":
      return s.message;
    default:
      return t("loading");
  }
}

/** The trust indicator and its panel (full hash, source, own genesis file). */
export function TrustPanel({ info, trust, anchor, actions }: { info: Info; trust: TrustState; anchor: Anchor | null; actions: TrustActions }) {
  const [open, setOpen] = useState(false);
  const [fileErr, setFileErr] = useState("");
  const good = isTrusted(trust);
  const hash = anchor?.hash ?? info.genesis_hash;
  return (
    <div class="trust">
      <button
        type="button"
        class={good ? "trust-btn good" : trust.kind === "pending" ? "trust-btn" : "trust-btn bad"}
        aria-expanded={open}
        aria-controls="trust-panel"
        onClick={() => setOpen(!open)}
        data-testid="trust-indicator"
        data-trust={trust.kind}
        title={t("trustDetails")}
      >
        {good ? <LockIcon /> : <span aria-hidden="true">⚠</span>} {t("genesis")} <span class="mono">{short(hash, 6)}</span>
        <span class="trust-state">{trustLabel(trust)}</span>
      </button>
      {open && (
        <div id="trust-panel" class="trust-panel card" data-testid="trust-panel">
          <h2>{t("trustTitle")}</h2>
          <p class="small">{anchor && anchor.source !== "served" ? t("trustOwn", anchor.source) : t("trustServed")}</p>
          <p class="small">
            {t("trustHashLabel")}: <code class="mono break" data-testid="genesis-hash">{hash}</code>
          </p>
          {anchor && <p class="small">{t("trustValidators", anchor.genesis.validators.map((v) => v.id).join(", "))}</p>}
          <TrustMessage trust={trust} info={info} />
          <div class="row-actions">
            <label class="button">
              {t("trustUseFile")}
              <input
                type="file"
                accept=".json,application/json"
                class="sr-only"
                data-testid="genesis-file"
                onChange={(e) => {
                  const f = (e.target as HTMLInputElement).files?.[0];
                  if (f) actions.useFile(f).then((err) => setFileErr(err ?? ""));
                  (e.target as HTMLInputElement).value = "";
                }}
              />
            </label>
            {anchor && anchor.source !== "served" && (
              <button type="button" onClick={actions.useServed}>
                {t("trustUseServed")}
              </button>
            )}
            {trust.kind === "changed" && (
              <button type="button" onClick={actions.accept}>
                {t("trustAccept")}
              </button>
            )}
            <button type="button" class="ghost" onClick={() => setOpen(false)}>
              {t("close")}
            </button>
          </div>
          {fileErr && (
            <p class="error small" role="alert">
              {fileErr}
            </p>
          )}
        </div>
      )}
    </div>
  );
}

export function TrustMessage({ trust, info }: { trust: TrustState; info: Info }) {
  switch (trust.kind) {
    case "first":
      return <p class="small warn">{t("trustFirstHelp")}</p>;
    case "ok":
      return <p class="small ok">{t("trustSame", fmtDate(trust.since))}</p>;
    case "changed":
      return <p class="small error">{t("trustChangedHelp", trust.before)}</p>;
    case "mismatch":
      return <p class="small error">{t("trustMismatchHelp", trust.hash, trust.claimed)}</p>;
    case "own":
      return trust.matchesNode ? <p class="small ok">{t("trustOwnMatches")}</p> : <p class="small error">{t("trustOwnDiffers", info.genesis_hash)}</p>;
    case "error":
      return <p class="small error">{trust.message}</p>;
    default:
      return null;
  }
}

/** A prominent banner when the genesis is not the trusted one. */
export function TrustBanner({ trust, info }: { trust: TrustState; info: Info }) {
  if (isTrusted(trust) || trust.kind === "pending") return null;
  const title =
    trust.kind === "changed" ? t("trustChanged") : trust.kind === "mismatch" ? t("trustMismatch") : trust.kind === "own" ? t("trustTitle") : t("trustTitle");
  return (
    <div class="banner" role="alert" data-testid="trust-banner">
      <strong>⚠ {title}</strong> <TrustMessage trust={trust} info={info} />
    </div>
  );
}

export function Header({
  info,
  session,
  trust,
  anchor,
  actions,
  onSignOut,
  onLang,
}: {
  info: Info;
  session: Session | null;
  trust: TrustState;
  anchor: Anchor | null;
  actions: TrustActions;
  onSignOut: () => void;
  onLang: () => void;
}) {
  return (
    <header class="top">
      <div class="brand">
        <ChainIcon />
        <span>{t("appTitle")}</span>
      </div>
      <dl class="chain-facts">
        <div>
          <dt>{t("chain")}</dt>
          <dd class="mono" data-testid="chain-id">
            {info.chain_id}
          </dd>
        </div>
        <div>
          <dt>{t("node")}</dt>
          <dd class="mono">{info.node_id}</dd>
        </div>
        <div>
          <dt>{t("height")}</dt>
          <dd class="mono" data-testid="chain-height">
            {info.height}
          </dd>
        </div>
      </dl>
      <TrustPanel info={info} trust={trust} anchor={anchor} actions={actions} />
      <div class="who">
        {session && (
          <>
            <span data-testid="signed-in" class="small">
              {t("signedInAs")}
              <strong>{session.department}</strong>
              {session.operator ? ` / ${session.operator}` : ""}
              <span class="muted"> · {session.auditor ? t("auditorRole") : t("deptScope")}</span>
            </span>
            <button type="button" onClick={onSignOut} data-testid="sign-out">
              {t("signOut")}
            </button>
          </>
        )}
        <button type="button" onClick={onLang} data-testid="lang-toggle" lang={lang() === "zh" ? "en" : "zh-CN"} aria-label={t("langToggleLabel")}>
          {t("langToggle")}
        </button>
      </div>
    </header>
  );
}
