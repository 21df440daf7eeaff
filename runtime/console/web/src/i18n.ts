// Every label of the page in Chinese and English. Chinese is the default; the choice is
// remembered in localStorage. `t(key, ...args)` fills {0}, {1}, … with the arguments.

export type Lang = "zh" | "en";

const STORE = "govchain.console.lang";

const dict = {
  // header and chrome
  appTitle: ["govchain 监管控制台", "govchain supervisor console"],
  skip: ["跳到主要内容", "Skip to main content"],
  chain: ["链", "Chain"],
  node: ["节点", "Node"],
  height: ["高度", "Height"],
  genesis: ["创世", "Genesis"],
  signedInAs: ["已登录：", "Signed in as "],
  auditorRole: ["审计员（可查看全部记录）", "auditor (sees every record)"],
  deptScope: ["仅本部门相关记录", "own records only"],
  signOut: ["退出登录", "Sign out"],
  langToggle: ["English", "中文"],
  langToggleLabel: ["Switch to English", "切换到中文"],
  views: ["视图", "Views"],
  viewAlerts: ["告警", "Alerts"],
  viewAudit: ["审计日志", "Audit log"],
  viewFlows: ["数据流向", "Data flows"],
  viewPoints: ["积分", "Points"],
  loading: ["加载中…", "Loading…"],
  refresh: ["刷新", "Refresh"],
  close: ["关闭", "Close"],
  none: ["（无）", "(none)"],
  any: ["全部", "Any"],
  errorPrefix: ["出错了：", "Error: "],
  sessionExpired: ["会话已结束，请重新登录。", "Your session has ended; please sign in again."],
  verifierMissing: ["浏览器验证器未能加载：{0}", "The in-browser verifier did not load: {0}"],

  // trust
  trustTitle: ["信任锚（创世文件）", "Trust anchor (genesis)"],
  trustServed: ["节点提供的创世文件", "genesis served by the node"],
  trustOwn: ["您载入的创世文件：{0}", "your genesis file: {0}"],
  trustOk: ["已信任", "trusted"],
  trustFirst: ["首次信任", "trusted on first use"],
  trustFirstHelp: [
    "这是本浏览器第一次见到此链的创世哈希，已记为可信。请与网络公布的创世哈希核对。",
    "This browser sees this chain's genesis hash for the first time and now trusts it. Compare it with the hash the network published.",
  ],
  trustSame: ["与本浏览器 {0} 首次信任的哈希一致。", "Same hash this browser first trusted on {0}."],
  trustChanged: ["创世哈希已变化！", "Genesis hash changed!"],
  trustChangedHelp: [
    "节点现在提供的创世哈希与本浏览器先前信任的不同（先前：{0}）。在弄清原因前不要相信验证结果。",
    "The node now serves a different genesis than the one this browser trusted before (before: {0}). Do not rely on verification until you know why.",
  ],
  trustMismatch: ["创世文件与哈希不符！", "Genesis does not match its hash!"],
  trustMismatchHelp: [
    "节点提供的创世文件的 SM3 为 {0}，而节点声称的创世哈希为 {1}。",
    "The SM3 of the genesis the node serves is {0}, but the node reports genesis hash {1}.",
  ],
  trustOwnDiffers: [
    "节点的创世哈希（{0}）与您的文件不同：此节点的区块将无法通过验证。",
    "The node's genesis hash ({0}) differs from your file: this node's blocks will not verify.",
  ],
  trustOwnMatches: ["与节点的创世哈希一致。", "Matches the node's genesis hash."],
  trustOwnShort: ["您的创世文件", "your genesis file"],
  trustOwnBad: ["您的文件与节点不符", "your file differs from the node"],
  trustAccept: ["改为信任当前创世", "Trust the current genesis instead"],
  trustUseFile: ["使用我的创世文件", "Use my genesis file"],
  trustUseServed: ["改用节点提供的创世", "Use the node's genesis"],
  trustFileBad: ["不是有效的创世文件：{0}", "Not a genesis document: {0}"],
  trustHashLabel: ["SM3 哈希", "SM3 hash"],
  trustValidators: ["验证者：{0}", "Validators: {0}"],
  trustDetails: ["信任详情", "Trust details"],

  // sign-in
  signInTitle: ["登录监管控制台", "Sign in to the supervisor console"],
  signInIntro: [
    "监管人员用本人的密钥文件登录；部门用部门密钥文件（密钥不会离开本页面）；节点运维人员用节点凭据（本部门视图）。",
    "Supervisors sign in with their own key file, departments with theirs (the key never leaves this page), a node's operator with the node credential (its department's view).",
  ],
  keyTitle: ["部门密钥文件", "Department key file"],
  keyFile: ["PEM 密钥文件", "PEM key file"],
  keyPass: ["口令（密钥已加密时填写）", "Passphrase (if the key is encrypted)"],
  keyDept: ["部门", "Department"],
  keyDeptAuto: ["按密钥自动识别", "Detect from the key"],
  keyDetected: ["密钥属于：{0}", "Key of: {0}"],
  keyDetectedOp: ["密钥属于：{0} 的操作员 {1}", "Key of: operator {1} of {0}"],
  keyUnknown: ["此密钥不属于创世文件中的任何部门，请手动选择部门。", "This key belongs to no genesis department; choose the department."],
  keyNeedsPass: ["无法读取密钥（已加密？请填写口令）：{0}", "Cannot read the key (encrypted? enter the passphrase): {0}"],
  keySubmit: ["用密钥登录", "Sign in with key"],
  keyChoose: ["请先选择密钥文件。", "Choose a key file first."],
  credTitle: ["节点凭据", "Node credential"],
  credField: ["凭据", "Credential"],
  credHelp: ["节点的 console.credential 文件中的内容，以运行该节点的部门 {0} 身份登录（非监管视图）。", "The content of the node's console.credential file; signs in as {0}, the department that runs the node (not the auditor's view)."],
  credSubmit: ["用凭据登录", "Sign in with credential"],
  signingIn: ["正在登录…", "Signing in…"],
  signInFailed: ["登录失败：{0}", "Sign-in failed: {0}"],

  // periods
  period: ["时间段", "Period"],
  last7: ["最近 7 天", "Last 7 days"],
  last30: ["最近 30 天", "Last 30 days"],
  last90: ["最近 90 天", "Last 90 days"],
  custom: ["自定义", "Custom"],
  fromDate: ["起始日期", "From date"],
  toDate: ["截止日期", "To date"],
  badRange: ["起始日期不能晚于截止日期", "The from date must not be after the to date"],
  apply: ["应用", "Apply"],
  cstNote: ["日期与时间均为北京时间（UTC+8）", "Dates and times are China Standard Time (UTC+8)"],
  periodShown: ["{0} 至 {1}", "{0} to {1}"],
  partialShort: [
    "此时间段的记录超过单次查询的上限，结果不完整；请缩短时间段。",
    "The period holds more records than one answer examines; results are partial. Choose a shorter period.",
  ],
  partial: [
    "此时间段的记录超过单次查询的上限（已检查 {0} 条），数字不完整；请缩短时间段。",
    "The period holds more records than one answer examines ({0} scanned); counts are partial. Choose a shorter period.",
  ],

  // audit
  searchTitle: ["检索审计记录", "Search audit records"],
  nationalId: ["公民身份号码", "Citizen national ID"],
  nationalIdHelp: ["在浏览器中校验并与链盐做 SM3 哈希，只发送哈希。", "Checked and hashed with the chain salt in this browser; only the hash is sent."],
  subjectSent: ["发送的主体标识：", "subject_id sent: "],
  badId: ["身份号码无效：{0}", "Invalid national ID: {0}"],
  requester: ["请求部门", "Requester"],
  owner: ["数据所属部门", "Owner"],
  purpose: ["用途", "Purpose"],
  purposeHelp: ["可自由输入或从列表中选择", "Type freely or pick from the list"],
  decision: ["决定", "Decision"],
  decisionAll: ["全部", "All"],
  decisionAllow: ["允许", "Allow"],
  decisionDeny: ["拒绝", "Deny"],
  search: ["检索", "Search"],
  reset: ["重置", "Reset"],
  results: ["检索结果", "Results"],
  resultsCount: ["第 {0} 页：{1} 条记录（检查了 {2} 条）", "Page {0}: {1} records ({2} scanned)"],
  noRecords: ["没有符合条件的记录。", "No matching records."],
  prevPage: ["上一页", "Previous page"],
  nextPage: ["下一页", "Next page"],
  exportJson: ["导出 JSON（含证明）", "Export JSON with proofs"],
  exportCsv: ["导出 CSV", "Export CSV"],
  exporting: ["正在导出…", "Exporting…"],
  exported: ["已下载 {0}", "Downloaded {0}"],
  exportNote: ["按当前条件导出（最多 1000 条）", "Exports the current filters (at most 1000 records)"],
  rowHint: ["在行上按 Enter 或点击可查看记录详情与证明。", "Press Enter on a row or click it to see the record and its proof."],

  // table columns
  colTime: ["时间", "Time"],
  colRequester: ["请求方", "Requester"],
  colOwner: ["所属方", "Owner"],
  colCert: ["证照", "Certificate"],
  colPurpose: ["用途", "Purpose"],
  colDecision: ["结果", "Decision"],
  colPoints: ["积分", "Points"],
  colReason: ["原因", "Reason"],
  via: ["经由 {0}", "via {0}"],

  // badges
  badgeAllow: ["允许", "ALLOW"],
  badgeDeny: ["拒绝", "DENY"],
  badgeKeyShare: ["密钥份额", "KEY SHARE"],
  badgeCompute: ["计算", "COMPUTE"],
  badgeJobResult: ["计算结果", "JOB RESULT"],

  // drawer
  recordTitle: ["审计记录 #{0}", "Audit record #{0}"],
  secRecord: ["记录", "Record"],
  secTx: ["交易", "Transaction"],
  secBlock: ["区块", "Block"],
  secProof: ["包含证明", "Inclusion proof"],
  fSeq: ["序号", "Sequence"],
  fTime: ["时间", "Time"],
  fHeight: ["区块高度", "Block height"],
  fRequester: ["请求部门", "Requester"],
  fOperator: ["操作员", "Operator"],
  fOwner: ["所属部门", "Owner"],
  fSubject: ["主体标识", "Subject id"],
  fCertId: ["证照编号", "Certificate id"],
  fCertType: ["证照类型", "Certificate type"],
  fPurpose: ["用途", "Purpose"],
  fDecision: ["决定", "Decision"],
  fAction: ["动作", "Action"],
  fReason: ["原因", "Reason"],
  fPoints: ["积分", "Points"],
  fVia: ["经由", "Via"],
  fGrant: ["授权编号", "Grant"],
  fRequest: ["对应请求", "For request"],
  fHash: ["哈希", "Hash"],
  fSender: ["发送方", "Sender"],
  fNonce: ["序列号（nonce）", "Nonce"],
  fPayload: ["载荷", "Payload"],
  fStatus: ["状态", "Status"],
  fIndex: ["块内序号", "Index in block"],
  fError: ["错误", "Error"],
  fBlockHash: ["区块哈希", "Block hash"],
  fBlockTime: ["出块时间", "Block time"],
  fProposer: ["出块者", "Proposer"],
  fTxCount: ["交易数", "Transactions"],
  fAuditCount: ["审计记录数", "Audit records"],
  fAuditRoot: ["审计根", "Audit root"],
  fStateRoot: ["状态根", "State root"],
  fLeaf: ["叶序号 / 树大小", "Leaf index / tree size"],
  fPath: ["路径哈希", "Path hashes"],
  fSignature: ["区块头签名", "Header signature"],
  pathEmpty: ["（无：此块只有这一条记录）", "(none: the only record of its block)"],
  verify: ["验证", "Verify"],
  verifying: ["正在浏览器中验证…", "Verifying in this browser…"],
  verifyHelp: [
    "在本浏览器中从创世文件的验证者公钥出发，检查区块头的提交证书（超过 2/3 验证者的 SM2 预提交签名）和 Merkle 包含证明，不询问节点。",
    "Checks, in this browser and from the validator keys of the genesis on, the header's commit certificate (SM2 precommits of more than 2/3 of the validators) and the Merkle inclusion proof; the node is not asked.",
  ],
  verifiedOk: [
    "已验证：区块头由当时超过 2/3 的验证者提交签名（出块者 {0}），包含证明已对照创世 {1} 检查通过（{2} 条记录，{3} 个区块头）。",
    "Verified: the header is certified by more than 2/3 of the validators in force (proposer {0}), and the inclusion proof checked against genesis {1} ({2} record(s), {3} header(s)).",
  ],
  verifiedFail: ["验证失败：{0}", "Verification FAILED: {0}"],
  verifyNoGenesis: ["没有可用的创世文件。", "No genesis to verify against."],

  // flows
  flowsTitle: ["部门间数据流向", "Data flows between departments"],
  flowsIntro: ["左侧为请求部门，右侧为数据所属部门；带宽表示读取次数。", "Requesters on the left, owners on the right; band width shows the number of reads."],
  legendAllowed: ["允许的读取", "Allowed reads"],
  legendDenied: ["被拒绝的读取", "Denied reads"],
  legendScale: ["宽度按读取次数的平方根缩放", "Width grows with the square root of reads"],
  flowTip: ["{0} → {1}：允许 {2}，拒绝 {3}，积分 {4}", "{0} → {1}: {2} allowed, {3} denied, {4} points"],
  noFlows: ["此时间段内没有读取。", "No reads in this period."],
  flowsTable: ["数据流向表", "Flows table"],
  colAllowed: ["允许", "Allowed"],
  colDenied: ["拒绝", "Denied"],
  total: ["合计", "Total"],
  requesters: ["请求部门", "Requesters"],
  owners: ["所属部门", "Owners"],

  // points
  pointsTitle: ["积分余额", "Points balances"],
  colDept: ["部门", "Department"],
  colName: ["名称", "Name"],
  colBalance: ["余额", "Balance"],
  supply: ["总量：创世 {0}，新增 {1}，销毁 {2}（高度 {3}）", "Supply: genesis {0}, minted {1}, burned {2} (height {3})"],
  historyTitle: ["余额变化", "Balance over time"],
  chooseDepts: ["选择部门（可多选）", "Departments (choose several)"],
  noDepts: ["请至少选择一个部门。", "Choose at least one department."],
  chartLabel: ["{0} 的积分余额随时间变化", "Points balance over time of {0}"],
  axisBalance: ["余额", "Balance"],
  axisTime: ["时间（北京时间）", "Time (CST)"],
  noChanges: ["此时间段内余额无变化", "no change in this period"],
  events: ["余额 {0}，{1} 次变动", "balance {0}, {1} changes"],
  eventsTable: ["变动明细（最近 {0} 条）", "Changes (latest {0})"],
  colDelta: ["变动", "Change"],
  colKind: ["类型", "Kind"],
  colCounterparty: ["对方", "Counterparty"],

  // alerts
  alertsTitle: ["告警", "Alerts"],
  deniedTitle: ["被拒绝的读取（最新在前）", "Denied reads (newest first)"],
  noDenied: ["此时间段内没有被拒绝的读取。", "No denied reads in this period."],
  deniedCount: ["{0} 条被拒绝的读取", "{0} denied reads"],
  findingsTitle: ["异常活动", "Unusual activity"],
  noFindings: ["此时间段内未发现异常活动。", "No unusual activity in this period."],
  ruleVolume: ["读取量异常", "Volume"],
  ruleOffHours: ["非工作时间", "Off hours"],
  ruleRare: ["少见用途", "Rare purpose"],
  colRule: ["规则", "Rule"],
  colSummary: ["说明", "Summary"],
  colCount: ["次数", "Count"],
  colRecords: ["相关记录", "Records"],
  openRecord: ["打开记录 #{0}", "Open record #{0}"],
  equivocationsTitle: ["验证节点违规（双重签名）", "Validator misbehaviour (double signing)"],
  equivocationsHelp: [
    "验证节点对同一高度、轮次和步骤签署了两个相互矛盾的消息；证据已上链，任何人可用该节点公钥验证。是否移除由治理决定。",
    "A validator signed two contradicting messages for one height, round and step; the evidence is on chain and anyone can check it with that validator's key. Removing it is governance's decision.",
  ],
  noEquivocations: ["此时间段内没有验证节点违规。", "No validator misbehaved in this period."],
  colValidator: ["验证节点", "Validator"],
  colStep: ["签署两次的消息", "Signed twice"],
  colAt: ["高度 / 轮次", "Height / round"],
  colReporter: ["举报节点", "Reported by"],
  colRecorded: ["上链", "Recorded"],
  stepPrevote: ["预投票", "prevote"],
  stepPrecommit: ["预提交", "precommit"],
  stepProposal: ["区块提议", "proposal"],
  rulesHelp: [
    "规则：某日读取量超过基线（前 28 天）；北京时间 08:00–18:00 以外或周末的读取；在基线中占比低于 5% 的用途。",
    "Rules: a day's reads above the baseline (the 28 days before); reads outside 08:00–18:00 CST or on weekends; a purpose under 5% of the baseline.",
  ],
} satisfies Record<string, [string, string]>;

export type Key = keyof typeof dict;

function initial(): Lang {
  try {
    const v = localStorage.getItem(STORE);
    if (v === "en" || v === "zh") return v;
  } catch {
    /* storage blocked */
  }
  return "zh";
}

let current: Lang = initial();

export function lang(): Lang {
  return current;
}

export function setLang(l: Lang): void {
  current = l;
  try {
    localStorage.setItem(STORE, l);
  } catch {
    /* ignore */
  }
  document.documentElement.lang = l === "zh" ? "zh-CN" : "en";
}

export function t(key: Key, ...args: (string | number)[]): string {
  const s = dict[key][current === "zh" ? 0 : 1];
  return args.length ? s.replace(/\{(\d+)\}/g, (_, i) => String(args[Number(i)] ?? "")) : s;
}

document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
