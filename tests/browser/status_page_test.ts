/**
 * The status page in a real headless browser: Debian's chromium renders
 * `http://127.0.0.1:<http port>/` of a server process after some traffic;
 * `--dump-dom` must hold the totals, both charts (with lines) and the
 * application and session tables, and `--screenshot` must be a 1280x900 PNG
 * that is not blank and shows the page's colours.
 *
 * Skipped, with a message, when /usr/bin/chromium is not installed
 * (CI: `apt-get install -y chromium`). Set FLAME_STATUS_SCREENSHOT=PATH to keep
 * the screenshot (docs/status-page.png is made that way).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { inflateSync } from "node:zlib";
import { BSON } from "bson";
import { connect, doGet, doPut, grpc, opaqueFlightData, statusOf } from "../helpers/flight_client.ts";
import { startServer } from "../helpers/server.ts";
import { skipUnless } from "../helpers/skip.ts";

const CHROMIUM = "/usr/bin/chromium";
const WIDTH = 1280;
const HEIGHT = 900;

function chromiumPresent(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

const present = chromiumPresent();

async function chromium(profile: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const out = await new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--hide-scrollbars",
      "--force-device-scale-factor=1",
      `--user-data-dir=${profile}`,
      ...args,
    ],
    stdin: "null",
    signal: AbortSignal.timeout(90_000),
  }).output();
  const dec = new TextDecoder();
  const result = { stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  assert.equal(out.code, 0, `chromium failed:\n${result.stderr}`);
  return result;
}

/** A decoded 8-bit RGB or RGBA PNG. */
interface Png {
  width: number;
  height: number;
  channels: number;
  pixels: Uint8Array;
}

/** Decode a non-interlaced 8-bit RGB/RGBA PNG (what Chromium writes): chunks, inflate, unfilter. */
function decodePng(bytes: Uint8Array): Png {
  assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], "PNG signature");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0, height = 0, channels = 0;
  const idat: Uint8Array[] = [];
  while (pos < bytes.length) {
    const len = view.getUint32(pos);
    const type = new TextDecoder().decode(bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      const [depth, color, , , interlace] = data.subarray(8, 13);
      assert.equal(depth, 8, "bit depth");
      assert.equal(interlace, 0, "not interlaced");
      channels = color === 6 ? 4 : color === 2 ? 3 : 0;
      assert.ok(channels, `colour type ${color}`);
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  assert.equal(raw.length, height * (stride + 1), "image data size");
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? out[i - channels] : 0;
      const b = prev[i];
      const c = i >= channels ? prev[i - channels] : 0;
      let v = line[i];
      switch (filter) {
        case 0:
          break;
        case 1:
          v += a;
          break;
        case 2:
          v += b;
          break;
        case 3:
          v += (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new Error(`bad PNG filter ${filter}`);
      }
      out[i] = v & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** Pixels within `tol` of an RGB colour. */
function countNear(png: Png, [r, g, b]: [number, number, number], tol = 12): number {
  let n = 0;
  for (let i = 0; i < png.pixels.length; i += png.channels) {
    const p = png.pixels;
    if (Math.abs(p[i] - r) <= tol && Math.abs(p[i + 1] - g) <= tol && Math.abs(p[i + 2] - b) <= tol) n++;
  }
  return n;
}

Deno.test({
  name: "status page: headless chromium renders totals, charts and tables (DOM and screenshot)",
  ignore: skipUnless("chromium", present, `${CHROMIUM} not installed (apt-get install -y chromium)`),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "flame-ops-browser-" });
    const server = await startServer([
      "--http",
      "127.0.0.1:0",
      "--storage",
      `${dir}/data`,
      "--max-memory",
      "64K",
    ]);
    const started = JSON.parse(server.logs().split("\n").find((l) => l.includes('"flame-cache started"'))!);
    const url = `http://${started.http}/`;
    const client = connect(server.address);
    try {
      // Traffic in two rounds, a sample period (5 s) apart, so the charts have lines.
      const keys: string[] = [];
      const round = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const app = ["analytics", "training", "etl"][i % 3];
          const msgs = opaqueFlightData([new Uint8Array(4096 * (1 + (i % 5))).fill(i)]);
          msgs[0].flight_descriptor = { type: 1, path: [`${app}/session-${i % 4}`] };
          keys.push(BSON.deserialize((await doPut(client, msgs))[0]).key);
        }
        for (let i = 0; i < 3 * n; i++) await doGet(client, `${keys[(i * 7) % keys.length]}:0`);
        assert.equal(
          (await statusOf(doGet(client, "analytics/session-0/missing"))).code,
          grpc.status.NOT_FOUND,
        );
      };
      await round(12);
      await new Promise((r) => setTimeout(r, 5600));
      await round(8);
      await new Promise((r) => setTimeout(r, 1200));

      const profile = `${dir}/profile`;
      const dom = (await chromium(`${profile}-dom`, ["--dump-dom", url])).stdout;
      assert.match(dom, /<title>flame-cache status<\/title>/);
      assert.match(dom, /id="health">SERVING</);
      const totals = /<section id="totals">([\s\S]*?)<\/section>/.exec(dom)?.[1] ?? "";
      assert.match(totals, /id="total-objects"><div class="label">Objects<\/div><div class="value">20</);
      assert.match(
        totals,
        /id="total-stored"><div class="label">Stored \(index\)<\/div><div class="value">\d/,
      );
      assert.match(
        totals,
        /id="total-hitrate"><div class="label">Hit rate<\/div><div class="value">\d+\.\d %/,
      );
      for (const chart of ["throughput-chart", "hitrate-chart"]) {
        const svg = new RegExp(`<svg id="${chart}"[\\s\\S]*?</svg>`).exec(dom)?.[0];
        assert.ok(svg, `${chart} in the DOM`);
        assert.match(svg, /<polyline /, `${chart} draws a line`);
      }
      for (const name of ["analytics", "training", "etl", "analytics/session-0"]) {
        assert.ok(dom.includes(`<td class="name">${name}</td>`), name);
      }

      const shot = `${dir}/status.png`;
      await chromium(`${profile}-shot`, [`--screenshot=${shot}`, `--window-size=${WIDTH},${HEIGHT}`, url]);
      const bytes = await Deno.readFile(shot);
      const keep = Deno.env.get("FLAME_STATUS_SCREENSHOT");
      if (keep) await Deno.writeFile(keep, bytes);
      const png = decodePng(bytes);
      assert.equal(png.width, WIDTH);
      assert.equal(png.height, HEIGHT);
      const total = png.width * png.height;
      const colours = new Set<number>();
      let nonWhite = 0;
      for (let i = 0; i < png.pixels.length; i += png.channels) {
        const [r, g, b] = [png.pixels[i], png.pixels[i + 1], png.pixels[i + 2]];
        colours.add((r << 16) | (g << 8) | b);
        if (r < 250 || g < 250 || b < 250) nonWhite++;
      }
      assert.ok(colours.size > 50, `${colours.size} distinct colours: blank?`);
      assert.ok(nonWhite / total > 0.15, `only ${nonWhite} non-white pixels`);
      // The page's own colours: header bar, background, chart lines.
      assert.ok(countNear(png, [0x1d, 0x27, 0x33], 4) > WIDTH * 40, "dark header bar");
      assert.ok(countNear(png, [0xf3, 0xf5, 0xf7], 2) > total * 0.1, "page background");
      assert.ok(countNear(png, [0x3b, 0x7d, 0xd8], 30) > 50, "blue throughput line");
      assert.ok(countNear(png, [0x2e, 0x9d, 0x5b], 30) > 50, "green hit-rate line / badge");
    } finally {
      client.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
