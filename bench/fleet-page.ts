/**
 * The dashboard page in headless Chromium for `bun run bench fleet`: a
 * probe injected before the page's own script (a `MutationObserver` and a
 * `requestAnimationFrame` loop) records, with `Date.now()`, when the first
 * row and the first problem row were in the viewport, when each TXID first
 * appeared in a row inside the viewport (the traffic's marker, see
 * `fleet-traffic.ts`), and the frames drawn while counting. Times are when
 * the row was in the DOM and laid out in the viewport; it is painted in
 * that frame.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { PROBLEM_STATES } from "./fleet-report.ts";

/** The Chromium binary, or null when it is not installed. */
export function findChromium(): string | null {
  return (
    Bun.which("chromium") ??
    Bun.which("chromium-browser") ??
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p)) ??
    null
  );
}

/** What the probe keeps in the page (`window.__bench`). */
interface Probe {
  firstRowAt: number | null;
  firstProblemAt: number | null;
  counting: boolean;
  seen: Record<string, number>;
  frames: number;
  longestFrameMs: number;
  lastFrameAt: number;
  countingSince: number;
}

declare const window: { __bench: Probe };
declare const performance: { now(): number };
declare const document: {
  getElementById(id: string): DomElement | null;
  querySelectorAll(selector: string): ArrayLike<DomElement>;
};
interface DomElement {
  getAttribute(name: string): string | null;
  getBoundingClientRect(): { top: number; bottom: number };
  click(): void;
}

/** The probe, as an init script (plain ES5: it runs before the page's own script). */
const PROBE = `(function () {
  var PROBLEMS = ${JSON.stringify(PROBLEM_STATES)};
  var b = { firstRowAt: null, firstProblemAt: null, counting: false, seen: {}, frames: 0, longestFrameMs: 0, lastFrameAt: 0, countingSince: 0 };
  window.__bench = b;
  function inView(tr) {
    var v = document.getElementById("viewport");
    if (v === null || !tr || !tr.getBoundingClientRect) return false;
    var a = v.getBoundingClientRect(), r = tr.getBoundingClientRect();
    return r.top >= a.top && r.bottom <= a.bottom && r.bottom > r.top;
  }
  new MutationObserver(function (mutations) {
    var now = Date.now();
    if (b.firstProblemAt === null) {
      var rows = document.querySelectorAll("#devices tr.row");
      for (var i = 0; i < rows.length; i++) {
        if (!inView(rows[i])) continue;
        if (b.firstRowAt === null) b.firstRowAt = now;
        if (PROBLEMS.indexOf(rows[i].getAttribute("data-state")) !== -1) { b.firstProblemAt = now; break; }
      }
    }
    if (!b.counting) return;
    for (var j = 0; j < mutations.length; j++) {
      var n = mutations[j].target;
      var td = n.nodeType === 3 ? n.parentNode : n;
      if (!td || !td.getAttribute || td.getAttribute("data-field") !== "txid") continue;
      var text = td.textContent;
      if (b.seen[text] === undefined && inView(td.parentNode)) b.seen[text] = now;
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
  function frame(t) {
    if (b.counting) {
      b.frames++;
      if (b.lastFrameAt > 0) b.longestFrameMs = Math.max(b.longestFrameMs, t - b.lastFrameAt);
      b.lastFrameAt = t;
    }
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
})();`;

/** A row in the viewport. */
export interface ScreenRow {
  readonly device: string;
  readonly state: string;
}

/** The page, with the probe. */
export class DashboardPage implements AsyncDisposable {
  readonly #browser: Browser;
  readonly page: Page;
  readonly errors: string[] = [];

  /** Use {@linkcode DashboardPage.launch}. */
  constructor(browser: Browser, page: Page) {
    this.#browser = browser;
    this.page = page;
    page.on("pageerror", (err) => this.errors.push(`page error: ${err.message}`));
  }

  /** Launches headless Chromium with a 1600×900 page carrying the probe. */
  static async launch(executablePath: string): Promise<DashboardPage> {
    const browser = await chromium.launch({
      executablePath,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
      await page.addInitScript(PROBE);
      return new DashboardPage(browser, page);
    } catch (err) {
      await browser.close();
      throw err;
    }
  }

  /**
   * Loads `url`; resolves with the ms from just before `goto` to the first
   * row and the first problem row in the viewport.
   *
   * @throws {Error} when no problem row shows within `timeoutMs`
   */
  async load(url: string, timeoutMs: number): Promise<{ firstRowMs: number; firstProblemRowMs: number }> {
    const t0 = Date.now();
    await this.page.goto(url);
    await this.page.waitForFunction(() => window.__bench.firstProblemAt !== null, undefined, {
      timeout: timeoutMs,
      polling: 50,
    });
    const b = await this.page.evaluate(() => ({
      row: window.__bench.firstRowAt,
      problem: window.__bench.firstProblemAt,
    }));
    return { firstRowMs: (b.row ?? t0) - t0, firstProblemRowMs: (b.problem ?? t0) - t0 };
  }

  /** The rows entirely inside the viewport, top down. */
  screenRows(): Promise<ScreenRow[]> {
    return this.page.evaluate(() => {
      const v = document.getElementById("viewport");
      if (v === null) return [];
      const a = v.getBoundingClientRect();
      return Array.from(document.querySelectorAll("#devices tr.row"))
        .filter((tr) => {
          const r = tr.getBoundingClientRect();
          return r.top >= a.top && r.bottom <= a.bottom && r.bottom > r.top;
        })
        .map((tr) => ({ device: tr.getAttribute("data-device") ?? "", state: tr.getAttribute("data-state") ?? "" }));
    });
  }

  /** Starts (or stops) recording TXIDs and frames. */
  async count(on: boolean): Promise<void> {
    await this.page.evaluate((value) => {
      const b = window.__bench;
      if (value) {
        b.seen = {};
        b.frames = 0;
        b.longestFrameMs = 0;
        b.lastFrameAt = 0;
        b.countingSince = performance.now();
      }
      b.counting = value;
    }, on);
  }

  /** What the probe recorded since {@linkcode DashboardPage.count} started it. */
  recorded(): Promise<{ seen: Record<string, number>; frames: number; longestFrameMs: number; countedMs: number }> {
    return this.page.evaluate(() => ({
      seen: window.__bench.seen,
      frames: window.__bench.frames,
      longestFrameMs: window.__bench.longestFrameMs,
      countedMs: performance.now() - window.__bench.countingSince,
    }));
  }

  /** Saves a screenshot of the viewport. */
  async screenshot(path: string): Promise<void> {
    await this.page.screenshot({ path });
  }

  /**
   * Opens the timeline of the first problem row and waits for it to be
   * `ready` (entries shown).
   *
   * @throws {Error} when it is not ready within `timeoutMs`
   */
  async openTimeline(timeoutMs: number): Promise<void> {
    await this.page.evaluate(() => {
      const v = document.getElementById("viewport") as unknown as { scrollTop: number } | null;
      if (v !== null) v.scrollTop = 0;
    });
    await this.page.click('#devices tr.row[data-state="error"]');
    await this.page.waitForSelector("#timeline[data-state=ready]", { timeout: timeoutMs });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#browser.close();
  }
}
