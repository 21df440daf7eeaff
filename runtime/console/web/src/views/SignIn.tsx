import { useState } from "preact/hooks";
import { api, type Genesis, type Info, type Session } from "../api";
import { describeError } from "../components/common";
import { t } from "../i18n";
import { deptName } from "../names";
import { errText, getVerifier } from "../wasm";

function normKey(hex: string): string {
  const h = hex.trim().toLowerCase();
  return h.length === 128 ? `04${h}` : h;
}

interface Match {
  department: string;
  operator: string;
}

/** Finds the department (or operator) whose genesis public key is `publicKey`. */
function matchKey(g: Genesis, publicKey: string): Match | null {
  const k = normKey(publicKey);
  for (const d of g.departments) {
    if (normKey(d.public_key) === k) return { department: d.id, operator: "" };
  }
  for (const d of g.departments) {
    for (const o of d.operators ?? []) {
      if (normKey(o.public_key) === k) return { department: d.id, operator: o.id };
    }
  }
  return null;
}

export function SignIn({ info, genesis, notice, onSignedIn }: { info: Info; genesis: Genesis; notice: string; onSignedIn: (s: Session) => void }) {
  const depts = genesis.departments;
  const [pem, setPem] = useState<string | null>(null);
  const [pass, setPass] = useState("");
  const [dept, setDept] = useState("");
  const [detected, setDetected] = useState<{ match: Match | null; error?: string } | null>(null);
  const [keyErr, setKeyErr] = useState("");
  const [keyBusy, setKeyBusy] = useState(false);
  const [cred, setCred] = useState("");
  const [credErr, setCredErr] = useState("");
  const [credBusy, setCredBusy] = useState(false);
  const methods = info.sign_in?.length ? info.sign_in : ["key", "credential"];

  // Signs a throw-away message to learn the key's public key, and so its department.
  const detect = async (text: string | null, passphrase: string) => {
    if (!text) {
      setDetected(null);
      return;
    }
    try {
      const v = await getVerifier();
      // A signature no node takes (no node, no challenge), only to learn the key.
      const read = { chainId: info.chain_id, nodeId: "", path: "/console/detect-key", timeMs: Date.now(), nonceHex: "00".repeat(16) };
      const s = v.signRead(text, passphrase || null, read, "00".repeat(32));
      setDetected({ match: matchKey(genesis, s.publicKey) });
    } catch (e) {
      setDetected({ match: null, error: errText(e) });
    }
  };

  const onFile = async (e: Event) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    setKeyErr("");
    if (!f) {
      setPem(null);
      setDetected(null);
      return;
    }
    const text = await f.text();
    setPem(text);
    detect(text, pass);
  };

  const keySignIn = async (e: Event) => {
    e.preventDefault();
    setKeyErr("");
    if (!pem) {
      setKeyErr(t("keyChoose"));
      return;
    }
    setKeyBusy(true);
    try {
      const v = await getVerifier();
      const ch = await api.challenge();
      const time = Date.now();
      // The challenge is single use, and the signature names this node and this page's
      // origin (the node checks it against the Origin header the browser sends).
      const read = { chainId: ch.chain_id || info.chain_id, nodeId: ch.node_id, path: ch.path, timeMs: time, nonceHex: ch.challenge };
      const origin = Array.from(new TextEncoder().encode(location.origin), (b) => b.toString(16).padStart(2, "0")).join("");
      const s = v.signRead(pem, pass || null, read, origin);
      const m = matchKey(genesis, s.publicKey);
      setDetected({ match: m });
      const department = dept || m?.department;
      if (!department) {
        setKeyErr(t("keyUnknown"));
        return;
      }
      const operator = !dept || dept === m?.department ? (m?.operator ?? "") : "";
      const session = await api.signIn({ department, operator, challenge: ch.challenge, time_ms: time, signature: s.signature });
      onSignedIn(session);
    } catch (err) {
      setKeyErr(t("signInFailed", describeError(err)));
    } finally {
      setKeyBusy(false);
    }
  };

  const credSignIn = async (e: Event) => {
    e.preventDefault();
    setCredErr("");
    setCredBusy(true);
    try {
      const session = await api.signIn({ credential: cred.trim() });
      setCred("");
      onSignedIn(session);
    } catch (err) {
      setCredErr(t("signInFailed", describeError(err)));
    } finally {
      setCredBusy(false);
    }
  };

  const det = detected?.match;
  return (
    <div class="signin">
      <h1>{t("signInTitle")}</h1>
      <p class="muted">{t("signInIntro")}</p>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <div class="signin-grid">
        {methods.includes("key") && (
          <form class="card" onSubmit={keySignIn} data-testid="signin-key-form">
            <h2>{t("keyTitle")}</h2>
            <div class="field">
              <label for="key-file">{t("keyFile")}</label>
              <input id="key-file" type="file" accept=".pem,.key,application/x-pem-file,text/plain" onChange={onFile} data-testid="signin-keyfile" />
            </div>
            <div class="field">
              <label for="key-pass">{t("keyPass")}</label>
              <input
                id="key-pass"
                type="password"
                autocomplete="off"
                value={pass}
                onInput={(e) => setPass((e.target as HTMLInputElement).value)}
                onChange={() => detect(pem, pass)}
                data-testid="signin-passphrase"
              />
            </div>
            {detected && (
              <p class={det ? "ok small" : "warn small"} role="status" data-testid="signin-detected">
                {det
                  ? det.operator
                    ? t("keyDetectedOp", `${det.department} — ${deptName(depts, det.department)}`, det.operator)
                    : t("keyDetected", `${det.department} — ${deptName(depts, det.department)}`)
                  : detected.error
                    ? t("keyNeedsPass", detected.error)
                    : t("keyUnknown")}
              </p>
            )}
            <div class="field">
              <label for="key-dept">{t("keyDept")}</label>
              <select id="key-dept" value={dept} onChange={(e) => setDept((e.target as HTMLSelectElement).value)} data-testid="signin-dept">
                <option value="">{t("keyDeptAuto")}</option>
                {depts.map((d) => (
                  <option value={d.id} key={d.id}>
                    {d.id} — {deptName(depts, d.id)}
                  </option>
                ))}
              </select>
            </div>
            <button type="submit" class="primary" disabled={keyBusy} data-testid="signin-key-submit">
              {keyBusy ? t("signingIn") : t("keySubmit")}
            </button>
            {keyErr && (
              <p class="error" role="alert" data-testid="signin-error">
                {keyErr}
              </p>
            )}
          </form>
        )}
        {methods.includes("credential") && (
          <form class="card" onSubmit={credSignIn} data-testid="signin-credential-form">
            <h2>{t("credTitle")}</h2>
            <div class="field">
              <label for="cred">{t("credField")}</label>
              <input
                id="cred"
                type="password"
                autocomplete="current-password"
                required
                value={cred}
                onInput={(e) => setCred((e.target as HTMLInputElement).value)}
                data-testid="signin-credential"
              />
              <p class="muted small">{t("credHelp", info.credential_department ?? "")}</p>
            </div>
            <button type="submit" class="primary" disabled={credBusy} data-testid="signin-credential-submit">
              {credBusy ? t("signingIn") : t("credSubmit")}
            </button>
            {credErr && (
              <p class="error" role="alert" data-testid="signin-error">
                {credErr}
              </p>
            )}
          </form>
        )}
      </div>
    </div>
  );
}
