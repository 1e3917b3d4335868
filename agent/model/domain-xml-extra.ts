/**
 * `<sound>`, `<audio>`, `<rng>` and `<watchdog>` parse and format for domain-xml.ts (pure):
 * the devices virt-install adds by default. Same error conventions as domain-xml.ts.
 */
import { SOUND_MODELS, WATCHDOG_ACTIONS } from "./domain-def.js";
import type { AudioDef, DevicesDef, RedirdevDef, RngDef, SoundDef, WatchdogDef } from "./domain-def.js";
import { formatAddress, parseAddress } from "./domain-xml-address.js";
import { AgentError } from "./errors.js";
import type { XEl } from "./xml-reader.js";
import { el } from "./xml-writer.js";

const RNG_SOURCES = ["/dev/urandom", "/dev/random", "/dev/hwrng"] as const;

function parseSound(x: XEl): SoundDef {
  const s: SoundDef = { model: x.enumAttr("model", SOUND_MODELS) };
  const audio = x.child("audio");
  if (audio !== undefined) {
    s.audioId = audio.reqIntAttr("id", 1, 0xffff);
    audio.finish();
  }
  const address = parseAddress(x, ["pci"]);
  if (address !== undefined) s.address = address;
  x.finish();
  return s;
}

function parseAudio(x: XEl): AudioDef {
  // Only the silent backend: the others (pulseaudio, spice, file...) reach host services.
  const a: AudioDef = { id: x.reqIntAttr("id", 1, 0xffff), type: x.enumAttr("type", ["none", "spice"] as const) };
  x.finish();
  return a;
}

function parseRng(x: XEl): RngDef {
  x.enumAttr("model", ["virtio"] as const);
  const b = x.child("backend");
  if (b === undefined) throw new AgentError("xml_error", `missing element <${x.path}/backend>`, { component: "conf" });
  b.enumAttr("model", ["random"] as const);
  const rng: RngDef = { model: "virtio", backend: b.text() === "" ? "/dev/urandom" : b.text() };
  b.finish();
  if (!(RNG_SOURCES as readonly string[]).includes(rng.backend)) {
    const msg = `unsupported rng source '${rng.backend}' in <${b.path}> (supported: ${RNG_SOURCES.join(", ")})`;
    throw new AgentError("config_unsupported", msg, { component: "conf" });
  }
  const rate = x.child("rate");
  if (rate !== undefined) {
    rng.rate = { bytes: rate.reqIntAttr("bytes", 1, 0x7fffffff) };
    const period = rate.intAttr("period", 1, 0x7fffffff);
    if (period !== undefined) rng.rate.period = period;
    rate.finish();
  }
  const address = parseAddress(x, ["pci"]);
  if (address !== undefined) rng.address = address;
  x.finish();
  return rng;
}

function parseWatchdog(x: XEl): WatchdogDef {
  const model = x.enumAttr("model", ["i6300esb", "ib700"] as const);
  const w: WatchdogDef = { model, action: x.enumAttr("action", WATCHDOG_ACTIONS, "reset") };
  // ib700 is an ISA device: it has no PCI address.
  const address = model === "i6300esb" ? parseAddress(x, ["pci"]) : undefined;
  if (address !== undefined) w.address = address;
  x.finish();
  return w;
}

function parseRedirdev(x: XEl): RedirdevDef {
  const r: RedirdevDef = { bus: x.enumAttr("bus", ["usb"] as const), type: x.enumAttr("type", ["spicevmc"] as const) };
  const address = parseAddress(x, ["usb"]);
  if (address !== undefined) r.address = address;
  x.finish();
  return r;
}

function nonEmpty<T>(list: T[]): T[] | undefined {
  return list.length > 0 ? list : undefined;
}

/** Parses the optional device lists into `out`; lists stay absent when empty. */
export function parseExtraDevices(d: XEl, out: DevicesDef): void {
  const lists = {
    sounds: nonEmpty(d.children("sound").map(parseSound)),
    audios: nonEmpty(d.children("audio").map(parseAudio)),
    rngs: nonEmpty(d.children("rng").map(parseRng)),
    watchdogs: nonEmpty(d.children("watchdog").map(parseWatchdog)),
    redirdevs: nonEmpty(d.children("redirdev").map(parseRedirdev)),
  };
  for (const [k, v] of Object.entries(lists)) if (v !== undefined) Object.assign(out, { [k]: v });
}

export function formatSound(s: SoundDef): string[] {
  return el("sound", [["model", s.model]], [...(s.audioId !== undefined ? el("audio", [["id", s.audioId]]) : []), ...formatAddress(s.address)]);
}

export function formatAudio(a: AudioDef): string[] {
  return el("audio", [["id", a.id], ["type", a.type]]);
}

export function formatRng(r: RngDef): string[] {
  return el("rng", [["model", r.model]], [
    ...(r.rate !== undefined ? el("rate", [["bytes", r.rate.bytes], ["period", r.rate.period]]) : []),
    ...el("backend", [["model", "random"]], r.backend),
    ...formatAddress(r.address),
  ]);
}

export function formatRedirdev(r: RedirdevDef): string[] {
  return el("redirdev", [["bus", r.bus], ["type", r.type]], formatAddress(r.address));
}

export function formatWatchdog(w: WatchdogDef): string[] {
  return el("watchdog", [["model", w.model], ["action", w.action]], formatAddress(w.address));
}
