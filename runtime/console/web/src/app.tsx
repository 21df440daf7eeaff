import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, setUnauthorizedHandler, type Genesis, type Info, type Session } from "./api";
import { describeError, Loading } from "./components/common";
import { Drawer } from "./components/Drawer";
import { Header, TrustBanner } from "./components/Header";
import { AppContext, type Ctx } from "./context";
import { lang, setLang, t, type Key } from "./i18n";
import { acceptServed, checkServed, loadOwn, saveOwn, type Anchor, type TrustState } from "./trust";
import { Alerts } from "./views/Alerts";
import { Audit } from "./views/Audit";
import { Flows } from "./views/Flows";
import { Points } from "./views/Points";
import { SignIn } from "./views/SignIn";
import { errText, getVerifier } from "./wasm";

type View = "alerts" | "audit" | "flows" | "points";
const VIEWS: { id: View; label: Key }[] = [
  { id: "alerts", label: "viewAlerts" },
  { id: "audit", label: "viewAudit" },
  { id: "flows", label: "viewFlows" },
  { id: "points", label: "viewPoints" },
];

function viewFromHash(): View {
  const h = location.hash.replace(/^#\/?/, "");
  return (VIEWS.find((v) => v.id === h)?.id ?? "alerts") as View;
}

interface Boot {
  info: Info;
  servedText: string;
  served: Genesis;
}

export function App() {
  const [, setLangTick] = useState(lang());
  const [boot, setBoot] = useState<Boot | null>(null);
  const [bootErr, setBootErr] = useState<unknown>(null);
  const [info, setInfo] = useState<Info | null>(null);
  const [trust, setTrust] = useState<TrustState>({ kind: "pending" });
  const [anchor, setAnchor] = useState<Anchor | null>(null);
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [notice, setNotice] = useState("");
  const [view, setView] = useState<View>(viewFromHash());
  const [drawer, setDrawer] = useState<{ seq: number; n: number } | null>(null);
  const returnFocus = useRef<HTMLElement | null>(null);
  const main = useRef<HTMLElement>(null);

  // Public facts first: chain info and the genesis the node serves.
  useEffect(() => {
    Promise.all([api.info(), api.genesisText()]).then(
      ([i, text]) => {
        try {
          setBoot({ info: i, servedText: text, served: JSON.parse(text) as Genesis });
          setInfo(i);
        } catch (e) {
          setBootErr(e);
        }
      },
      (e) => setBootErr(e),
    );
    api.session().then(
      (s) => setSession(s),
      () => setSession(null),
    );
    setUnauthorizedHandler(() => {
      setSession(null);
      setDrawer(null);
      setNotice(t("sessionExpired"));
    });
    const onHash = () => setView(viewFromHash());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  // The height moves on: refresh the chain facts now and then.
  useEffect(() => {
    const id = setInterval(() => {
      api.info().then(setInfo, () => {});
    }, 15_000);
    return () => clearInterval(id);
  }, []);

  // The trust anchor: SM3 of the served genesis against the reported and the remembered hash.
  const computeTrust = useCallback(async (b: Boot) => {
    try {
      const v = await getVerifier();
      const servedHash = v.sm3Text(b.servedText);
      const servedState = checkServed(b.info.chain_id, servedHash, b.info.genesis_hash);
      const own = loadOwn(b.info.chain_id);
      if (own) {
        try {
          const g = JSON.parse(own.text) as Genesis;
          const hash = v.sm3Text(own.text);
          setAnchor({ text: own.text, genesis: g, hash, source: own.name });
          setTrust({ kind: "own", hash, name: own.name, matchesNode: hash.toLowerCase() === b.info.genesis_hash.toLowerCase() });
          return;
        } catch {
          saveOwn(b.info.chain_id, null);
        }
      }
      setAnchor({ text: b.servedText, genesis: b.served, hash: servedHash, source: "served" });
      setTrust(servedState);
    } catch (e) {
      setTrust({ kind: "error", message: t("verifierMissing", errText(e)) });
    }
  }, []);

  useEffect(() => {
    if (boot) computeTrust(boot);
  }, [boot]);

  const trustActions = useMemo(
    () => ({
      useFile: async (f: File): Promise<string | null> => {
        if (!boot) return null;
        try {
          const text = await f.text();
          const g = JSON.parse(text) as Genesis;
          if (!g || typeof g.chain_id !== "string" || !Array.isArray(g.validators)) throw new Error("chain_id / validators");
          saveOwn(boot.info.chain_id, { name: f.name, text });
          await computeTrust(boot);
          return null;
        } catch (e) {
          return t("trustFileBad", errText(e));
        }
      },
      useServed: () => {
        if (!boot) return;
        saveOwn(boot.info.chain_id, null);
        computeTrust(boot);
      },
      accept: () => {
        if (!boot || trust.kind !== "changed") return;
        acceptServed(boot.info.chain_id, trust.hash);
        computeTrust(boot);
      },
    }),
    [boot, trust, computeTrust],
  );

  const openRecord = useCallback((seq: number, from?: HTMLElement | null) => {
    returnFocus.current = from ?? (document.activeElement as HTMLElement | null);
    setDrawer((d) => ({ seq, n: (d?.n ?? 0) + 1 }));
  }, []);

  const closeDrawer = useCallback(() => {
    setDrawer(null);
    const el = returnFocus.current;
    returnFocus.current = null;
    requestAnimationFrame(() => {
      if (el && document.contains(el)) el.focus();
    });
  }, []);

  const toggleLang = () => {
    const next = lang() === "zh" ? "en" : "zh";
    setLang(next);
    setLangTick(next);
  };

  const signOut = async () => {
    try {
      await api.signOut();
    } catch {
      /* signed out anyway */
    }
    setDrawer(null);
    setNotice("");
    setSession(null);
  };

  const skip = (e: Event) => {
    e.preventDefault();
    main.current?.focus();
  };

  if (bootErr) {
    return (
      <main class="boot" id="main">
        <h1>{t("appTitle")}</h1>
        <p class="error" role="alert">
          {t("errorPrefix")}
          {describeError(bootErr)}
        </p>
      </main>
    );
  }
  if (!boot || !info || session === undefined) {
    return (
      <main class="boot" id="main">
        <Loading />
      </main>
    );
  }

  const header = (
    <Header info={info} session={session} trust={trust} anchor={anchor} actions={trustActions} onSignOut={signOut} onLang={toggleLang} />
  );

  if (!session) {
    return (
      <>
        <a href="#main" class="skip" onClick={skip}>
          {t("skip")}
        </a>
        {header}
        <TrustBanner trust={trust} info={info} />
        <main id="main" ref={main} tabIndex={-1} data-testid="signin">
          <SignIn
            info={info}
            genesis={boot.served}
            notice={notice}
            onSignedIn={(s) => {
              setNotice("");
              setSession(s);
              location.hash = "#/alerts";
              setView("alerts");
            }}
          />
        </main>
      </>
    );
  }

  const ctx: Ctx = {
    info,
    genesis: boot.served,
    anchor,
    trust,
    session,
    depts: boot.served.departments,
    openRecord,
  };

  return (
    <AppContext.Provider value={ctx}>
      <a href="#main" class="skip" onClick={skip}>
        {t("skip")}
      </a>
      {header}
      <TrustBanner trust={trust} info={info} />
      <nav class="tabs" aria-label={t("views")}>
        <ul>
          {VIEWS.map((v) => (
            <li key={v.id}>
              <a href={`#/${v.id}`} aria-current={view === v.id ? "page" : undefined} data-testid={`nav-${v.id}`}>
                {t(v.label)}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" ref={main} tabIndex={-1}>
        {view === "alerts" && <Alerts />}
        {view === "audit" && <Audit />}
        {view === "flows" && <Flows />}
        {view === "points" && <Points />}
      </main>
      {drawer && <Drawer key={drawer.n} seq={drawer.seq} onClose={closeDrawer} />}
    </AppContext.Provider>
  );
}
