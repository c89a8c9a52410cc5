import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface Series {
  label: string
  color: string
  points: { x: number; y: number }[]
}

/** A line chart with a logarithmic x axis, as SVG (no dependencies: a few dozen elements). */
export function lineChartSvg(title: string, xLabel: string, yLabel: string, series: Series[]): string {
  const W = 720
  const H = 420
  const m = { l: 80, r: 30, t: 50, b: 60 }
  const xs = series.flatMap((s) => s.points.map((p) => p.x))
  const ys = series.flatMap((s) => s.points.map((p) => p.y))
  const x0 = Math.log10(Math.min(...xs))
  const x1 = Math.log10(Math.max(...xs))
  const yMax = Math.max(...ys) * 1.15
  const px = (x: number) => m.l + ((Math.log10(x) - x0) / Math.max(1e-9, x1 - x0)) * (W - m.l - m.r)
  const py = (y: number) => H - m.b - (y / yMax) * (H - m.t - m.b)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="13">`,
    // the title element names the chart for screen readers (and Biome's a11y rule)
    `<title>${title}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="28" text-anchor="middle" font-size="16" font-weight="bold">${title}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 15}" text-anchor="middle">${xLabel}</text>`,
    `<text x="20" y="${H / 2}" text-anchor="middle" transform="rotate(-90 20 ${H / 2})">${yLabel}</text>`,
  ]
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    const label = x >= 1e6 ? `${x / 1e6}M` : x >= 1e3 ? `${x / 1e3}k` : String(x)
    out.push(`<line x1="${px(x)}" y1="${H - m.b}" x2="${px(x)}" y2="${H - m.b + 5}" stroke="black"/>`)
    out.push(`<text x="${px(x)}" y="${H - m.b + 20}" text-anchor="middle">${label}</text>`)
  }
  for (let i = 0; i <= 5; i++) {
    const y = (yMax / 5) * i
    out.push(`<line x1="${m.l - 5}" y1="${py(y)}" x2="${W - m.r}" y2="${py(y)}" stroke="#ddd"/>`)
    out.push(`<text x="${m.l - 8}" y="${py(y) + 4}" text-anchor="end">${Math.round(y)}</text>`)
  }
  series.forEach((s, k) => {
    const pts = s.points.map((p) => `${px(p.x)},${py(p.y)}`).join(' ')
    out.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2.5"/>`)
    for (const p of s.points) out.push(`<circle cx="${px(p.x)}" cy="${py(p.y)}" r="4" fill="${s.color}"/>`)
    out.push(`<rect x="${m.l + 15}" y="${m.t + 8 + k * 20}" width="14" height="4" fill="${s.color}"/>`)
    out.push(`<text x="${m.l + 35}" y="${m.t + 14 + k * 20}">${s.label}</text>`)
  })
  out.push('</svg>')
  return out.join('\n')
}

/**
 * Writes the SVG and a PNG beside it: with rsvg-convert or ImageMagick when installed, else by a screenshot in
 * Debian's headless Chromium (the browser tests' own, never downloaded). Without any of them, the SVG alone.
 */
export async function writeChart(svg: string, base: string): Promise<string[]> {
  await writeFile(`${base}.svg`, svg)
  for (const [cmd, args] of [
    ['rsvg-convert', ['-o', `${base}.png`, `${base}.svg`]],
    ['convert', [`${base}.svg`, `${base}.png`]],
  ] as const) {
    try {
      await run(cmd, [...args])
      return [`${base}.svg`, `${base}.png`]
    } catch {
      // this converter is missing or failed: try the next
    }
  }
  if (await screenshotSvg(svg, `${base}.png`)) return [`${base}.svg`, `${base}.png`]
  return [`${base}.svg`]
}

const CHROMIUM = '/usr/bin/chromium'

async function screenshotSvg(svg: string, png: string): Promise<boolean> {
  if (!existsSync(CHROMIUM)) return false
  const { chromium } = await import('playwright-core')
  const size = /width="(\d+)" height="(\d+)"/.exec(svg)
  const browser = await chromium
    .launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
      ],
    })
    .catch(() => null)
  if (!browser) return false
  try {
    const page = await browser.newPage({
      viewport: { width: Number(size?.[1] ?? 720), height: Number(size?.[2] ?? 420) },
    })
    await page.setContent(`<html><body style="margin:0">${svg}</body></html>`)
    await page.locator('svg').screenshot({ path: png })
    return true
  } catch {
    // no usable browser here: the SVG stays the chart
    return false
  } finally {
    await browser.close()
  }
}
