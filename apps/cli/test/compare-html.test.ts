/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO, efikdump, tempDir, toolAvailable } from './helpers';

/** End to end: report.html opened in Debian's headless Chromium (never a downloaded browser), driven by playwright-core. */
const CHROMIUM = '/usr/bin/chromium';
const haveChromium = toolAvailable(() => existsSync(CHROMIUM), 'chromium (Debian package chromium)');
const maybe = haveChromium ? describe : describe.skip;
export const ARTIFACTS = join(REPO, 'out', 'ci-artifacts');

maybe('report.html in headless Chromium', () => {
  it('renders the verdict first, then the heatmap (expected cells slate), distributions, timelines and retention map with no console errors, and saves a screenshot', async () => {
    const { chromium } = require('playwright-core') as typeof import('playwright-core');
    const { dir, cleanup } = tempDir('html');
    const profile = mkdtempSync(join(tmpdir(), 'efikdump-chromium-'));
    try {
      const r = efikdump([
        'compare',
        '--designs',
        'efi-warm-reserved-memory,efi-warm-with-firmware-retention',
        '--scenarios',
        'healthy,firmware-scrubs-low-memory,mor-set,torn-nvram-write',
        '--runs',
        '4',
        '--workers',
        '2',
        '--report',
        dir,
      ]);
      expect(r.status).toBe(0);
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
        viewport: { width: 1200, height: 900 },
      });
      try {
        const page = await context.newPage();
        const problems: string[] = [];
        const requests: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
        });
        page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
        page.on('request', (q) => {
          if (!q.url().startsWith('file:')) requests.push(q.url());
        });
        await page.goto(pathToFileURL(join(dir, 'report.html')).href, { waitUntil: 'load' });

        const charts = await page.$$eval('svg[data-chart]', (els) =>
          els.map((e) => {
            const box = e.getBoundingClientRect();
            return {
              chart: e.getAttribute('data-chart'),
              children: e.childElementCount,
              marks: e.querySelectorAll('rect,circle,line').length,
              width: box.width,
              height: box.height,
            };
          }),
        );
        expect(charts.map((c) => c.chart)).toEqual(['heatmap', 'distributions', 'timeline', 'retention']);
        for (const c of charts) {
          expect(c.children).toBeGreaterThan(0);
          expect(c.marks).toBeGreaterThan(3);
          expect(c.width).toBeGreaterThan(300);
          expect(c.height).toBeGreaterThan(50);
        }
        // 2 designs × 4 scenarios: one heatmap cell each; the retention map draws at least one changed range.
        expect(await page.$$eval('svg[data-chart="heatmap"] g.cell rect', (e) => e.length)).toBe(8);
        expect(await page.$$eval('svg[data-chart="retention"] rect.changed', (e) => e.length)).toBeGreaterThan(0);
        expect(await page.$$eval('svg[data-chart="distributions"] circle.dot', (e) => e.length)).toBeGreaterThan(0);
        expect(await page.getAttribute('html', 'data-rendered')).toBe('4');
        // The verdict comes first: one row per design, one line per lost or expected scenario, the measured-firmware summary.
        const verdict = await page.$eval('section[data-section="verdict"]', (sec) => ({
          beforeHeatmap: Boolean(
            sec.compareDocumentPosition(document.querySelector('svg[data-chart="heatmap"]')!) & Node.DOCUMENT_POSITION_FOLLOWING,
          ),
          rows: sec.querySelectorAll('table[data-table="verdict"] tbody tr').length,
          designs: [...sec.querySelectorAll('div.design')].map((d) => d.getAttribute('data-design')),
          expected: [...sec.querySelectorAll('div[data-design="efi-warm-reserved-memory"] li.expected')].map((l) => l.textContent),
          losses: [...sec.querySelectorAll('div[data-design="efi-warm-with-firmware-retention"] li.loss')].map((l) => l.textContent),
          measured: sec.querySelectorAll('p.measured').length,
          height: sec.getBoundingClientRect().height,
        }));
        expect(verdict.beforeHeatmap).toBe(true);
        expect(verdict.rows).toBe(2);
        expect(verdict.designs).toEqual(['efi-warm-reserved-memory', 'efi-warm-with-firmware-retention']);
        expect(verdict.expected).toEqual([expect.stringMatching(/^expected in mor-set \(4\/4 runs\): MOR ClearMemory/)]);
        expect(verdict.losses).toEqual(
          expect.arrayContaining([expect.stringMatching(/^loses healthy: 4\/4 runs not a success, first no-dump: /)]),
        );
        expect(verdict.measured).toBeGreaterThan(0);
        expect(verdict.height).toBeGreaterThan(100);
        // mor-set on an EFI reset design is "expected" (slate), not a red loss.
        expect(
          await page.$$eval('svg[data-chart="heatmap"] g.cell[data-status="expected"] text', (e) => e.map((t) => t.textContent)),
        ).toEqual(['expected', 'expected']);
        expect(problems).toEqual([]);
        expect(requests).toEqual([]);

        mkdirSync(ARTIFACTS, { recursive: true });
        const shot = join(ARTIFACTS, 'report.png');
        await page.screenshot({ path: shot, fullPage: true });
        expect(statSync(shot).size).toBeGreaterThan(20_000);
      } finally {
        await context.close();
      }
    } finally {
      cleanup();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 120_000);
});
