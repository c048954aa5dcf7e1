// Drives the web UI in headless Chromium for tests/it/ui_browser.rs.
// Usage: node ui.js <step>; settings come from the environment:
//   BASE (server URL), TOKEN (sign-in token), STATE (cookie storage file),
//   SHOTS (screenshot folder), WHEEL (file to upload), CHROMIUM (binary).
// Prints one JSON object with what the step saw; exits 1 on failure.
"use strict";
const { chromium } = require("playwright-core");
const path = require("path");

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BASE = env("BASE");
const SHOTS = env("SHOTS");

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

// For each .copyable block on the page: whether its text is cut off (wider
// than its box) and whether any of its text lies under its Copy button.
async function copyLayout(page) {
  return page.$$eval(".copyable", (els) => els.map((c) => {
    const pre = c.querySelector("pre");
    const btn = c.querySelector("button");
    const range = document.createRange();
    range.selectNodeContents(pre);
    const b = btn.getBoundingClientRect();
    const under = Array.from(range.getClientRects()).some((t) =>
      t.width > 0 && t.right > b.left && t.left < b.right && t.bottom > b.top && t.top < b.bottom);
    return { id: pre.id, cut: pre.scrollWidth > pre.clientWidth + 1, under };
  }));
}

const steps = {
  // Sign in with the token form; the session cookie is saved to STATE.
  async signin(page, ctx) {
    await page.goto(`${BASE}/login?return_to=/`);
    await shot(page, "01-login");
    await page.getByLabel("Token").fill(env("TOKEN"));
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${BASE}/`);
    const who = await page.locator(".who .user").innerText();
    await shot(page, "02-home");
    await ctx.storageState({ path: env("STATE") });
    const cookies = await ctx.cookies();
    const session = cookies.find((c) => c.name === "batlehub_session");
    return { url: page.url(), who, httpOnly: !!(session && session.httpOnly), sameSite: session && session.sameSite };
  },

  // Settings → Tokens → New token: the secret is shown once.
  async token(page) {
    await page.goto(`${BASE}/settings/tokens`);
    await page.getByLabel("Name").fill("browser-made");
    const lifetime = await page.getByLabel("Lifetime").inputValue();
    const role = await page.getByLabel("Role").inputValue();
    await page.getByRole("button", { name: "Create" }).click();
    const token = (await page.locator("#new-token").innerText()).trim();
    const exportLine = (await page.locator("#new-token-export").innerText()).trim();
    await shot(page, "03-token-created");
    await page.goto(`${BASE}/settings/tokens`);
    const again = await page.content();
    const listed = await page.locator("tbody tr", { hasText: "browser-made" }).count();
    await shot(page, "04-tokens");
    return { token, exportLine, lifetime, role, shownAgain: again.includes(token), listed };
  },

  // Settings → Tokens: a token revoked only once the confirmation is accepted.
  async revoke(page) {
    await page.goto(`${BASE}/settings/tokens`);
    await page.getByLabel("Name").fill("to-revoke");
    await page.getByRole("button", { name: "Create" }).click();
    await page.goto(`${BASE}/settings/tokens`);
    const row = () => page.locator("tbody tr", { hasText: "to-revoke" }).first();
    const dialogs = [];
    page.once("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
    await row().getByRole("button", { name: "Revoke" }).click();
    await page.waitForTimeout(300);
    await page.goto(`${BASE}/settings/tokens`);
    const afterDismiss = (await row().locator(".badge").first().innerText()).trim();
    page.once("dialog", (d) => { dialogs.push(d.message()); d.accept(); });
    await Promise.all([page.waitForNavigation(), row().getByRole("button", { name: "Revoke" }).click()]);
    await page.goto(`${BASE}/settings/tokens`);
    const afterAccept = (await row().locator(".badge").first().innerText()).trim();
    await shot(page, "04b-token-revoked");
    return { dialogs, afterDismiss, afterAccept };
  },

  // The Setup Guide: every snippet, by its element id, from the initial HTML;
  // titles as shown; every command block's layout at a laptop's width, all
  // tab panels shown.
  async setup(page) {
    await page.setViewportSize({ width: 1024, height: 800 });
    await page.goto(`${BASE}/setup`);
    const snippets = await page.$$eval("pre[id^=snip-]", (els) => Object.fromEntries(els.map((e) => [e.id, e.textContent])));
    const copyButtons = await page.locator("button[data-copy]").count();
    const titles = await page.$$eval("h1, h2, h3, .snippet-title", (els) => els.map((e) => e.textContent));
    await shot(page, "05-setup");
    await page.evaluate(() => document.querySelectorAll("[role=tabpanel], [hidden]").forEach((p) => { p.hidden = false; }));
    const layout = await copyLayout(page);
    return { snippets, copyButtons, titles, layout };
  },

  // The Upload package card: publish WHEEL to the registry REGISTRY.
  async upload(page) {
    await page.goto(`${BASE}/my-namespace`);
    await page.locator("#upload-registry").selectOption(env("REGISTRY"));
    await page.locator("#upload-file").setInputFiles(env("WHEEL"));
    await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Upload" }).click()]);
    const notice = (await page.locator(".notice").first().innerText()).trim();
    const url = page.url();
    await shot(page, "06-uploaded");
    // Reloading the page that follows never sends the upload again.
    const methods = [];
    page.on("request", (r) => methods.push(r.method()));
    await page.reload();
    const reloadNotice = (await page.locator(".notice").first().innerText()).trim();
    return { notice, url, reloadMethods: methods, reloadNotice };
  },

  // My namespaces → the namespace row → the package's visibility → team.
  async visibility(page) {
    await page.goto(`${BASE}/my-namespace`);
    const groups = await page.locator("#groups li").allInnerTexts();
    await page.locator("#namespaces tbody tr", { hasText: env("PREFIX") }).first().click();
    await page.waitForSelector("#packages");
    const row = page.locator("#packages tbody tr", { hasText: env("PACKAGE") }).first();
    const before = (await row.locator(".badge").first().innerText()).trim();
    await row.locator("summary").click();
    await row.getByLabel("Visibility", { exact: true }).selectOption("team");
    await shot(page, "07-visibility-editor");
    await row.getByRole("button", { name: "Save" }).click();
    await page.waitForSelector("#packages");
    const after = (await page.locator("#packages tbody tr", { hasText: env("PACKAGE") }).first().locator(".badge").first().innerText()).trim();
    const notice = (await page.locator(".notice").first().innerText()).trim();
    await shot(page, "08-my-namespace");
    // The team badge is not in an error's colours.
    const colours = await page.evaluate(() => {
      const team = document.querySelector("#packages .badge.vis-team");
      const bad = document.createElement("div");
      bad.className = "notice bad";
      document.body.appendChild(bad);
      const t = getComputedStyle(team), b = getComputedStyle(bad);
      return { team: [t.color, t.backgroundColor], bad: [b.color, b.backgroundColor] };
    });
    return { groups, before, after, notice, colours };
  },

  // The package browser: search, then the package page.
  async browse(page) {
    await page.goto(`${BASE}/packages`);
    await page.getByRole("searchbox", { name: "Package name" }).fill(env("PACKAGE"));
    await page.getByRole("button", { name: "Search" }).click();
    const results = await page.locator("tbody tr").allInnerTexts();
    await shot(page, "09-packages");
    await page.getByRole("link", { name: env("PACKAGE") }).first().click();
    const install = (await page.locator("#install-command").innerText()).trim();
    const versions = await page.locator("tbody tr").allInnerTexts();
    await shot(page, "10-package");
    // Dark theme through the toggle, for the record.
    await page.locator("#theme-toggle").click();
    const theme = await page.evaluate(() => document.documentElement.getAttribute("data-theme"));
    await shot(page, "11-package-dark");
    return { results, install, versions, theme };
  },

  // A package page: its install command (and whether it is cut off or under
  // its Copy button), each version's tags, yank and deprecation, its files
  // and what their links download.
  async package(page) {
    await page.setViewportSize({ width: 800, height: 800 });
    await page.goto(`${BASE}/packages/${env("REGISTRY")}/${encodeURIComponent(env("PACKAGE"))}`);
    const install = (await page.locator("#install-command").innerText()).trim();
    const layout = await copyLayout(page);
    const rows = await page.$$eval("tr[data-version]", (trs) => trs.map((tr) => ({
      version: tr.getAttribute("data-version"),
      tags: Array.from(tr.querySelectorAll("[data-tag]")).map((t) => t.getAttribute("data-tag")),
      yanked: Array.from(tr.querySelectorAll(":scope > td:first-child .badge.yanked")).some((b) => b.textContent === "yanked"),
      deprecated: (tr.querySelector(".deprecated") || { textContent: "" }).textContent.trim(),
      files: Array.from(tr.querySelectorAll("[data-file]")).map((f) => ({
        name: f.getAttribute("data-file"),
        href: (f.querySelector("a") || { href: "" }).href,
        withdrawn: !!f.querySelector(".badge.yanked"),
      })),
    })));
    await shot(page, `12-package-${env("REGISTRY")}`);
    for (const r of rows) {
      for (const f of r.files) {
        if (!f.href) continue;
        const res = await page.request.get(f.href);
        f.status = res.status();
        f.bytes = (await res.body()).length;
      }
    }
    return { install, layout, rows };
  },
};

(async () => {
  const step = process.argv[2];
  if (!steps[step]) throw new Error(`unknown step ${step}`);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const fs = require("fs");
    const state = process.env.STATE;
    const ctx = await browser.newContext(step !== "signin" && state && fs.existsSync(state) ? { storageState: state } : {});
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.setDefaultTimeout(15000);
    const out = await steps[step](page, ctx);
    out.errors = errors;
    process.stdout.write(JSON.stringify(out) + "\n");
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
