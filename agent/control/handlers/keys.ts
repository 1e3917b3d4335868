/**
 * Keyboard commands: domain.send_key (virsh send-key), domain.type_text (ours) and
 * domain.keycode (a key in every set, with what the guest's QEMU accepts).
 *
 * Everything is validated before the first key is sent: a bad key, a paused guest or an
 * untypable character sends nothing.
 */
import { Type } from "@sinclair/typebox";
import { setTimeout as sleep } from "node:timers/promises";
import type { QKey } from "../../drivers/hypervisor.js";
import { AgentError } from "../../model/errors.js";
import * as keycodes from "../../model/keycodes.js";
import { MAX_TEXT_LENGTH, parseLayout, planText } from "../../model/keymap-layouts.js";
import { isActive } from "../../model/state.js";
import { defineCommand, type CommandContext } from "../types.js";
import { DomainRef } from "./domain.js";

/** libvirt's limit (VIR_DOMAIN_SEND_KEY_MAX_KEYS). */
export const MAX_KEYS = 16;
/** Upper bound of holdtime; QEMU takes any uint32 but a long hold wedges the keyboard meanwhile. */
export const MAX_HOLDTIME_MS = 10_000;

const Key = Type.Union([Type.Integer({ minimum: 0, maximum: keycodes.MAX_KEY_VALUE }), Type.String({ minLength: 1, maxLength: 64 })]);
// A plain string so parseCodeset can answer with the list of valid names.
const CodesetArg = Type.String({ minLength: 1, maxLength: 16, default: "linux" });

function uuidOf(ctx: CommandContext): string {
  if (!ctx.domainUuid) throw new AgentError("internal", "domain target was not resolved", { component: "control" });
  return ctx.domainUuid;
}

/** Resolves every key, reporting all bad ones in one error. */
function resolveKeys(codeset: keycodes.Codeset, keys: readonly (number | string)[]): number[] {
  const bad: string[] = [];
  const linux = keys.map((k) => {
    try {
      return keycodes.keyToLinux(codeset, k);
    } catch (e) {
      bad.push(e instanceof AgentError ? e.message : String(e));
      return -1;
    }
  });
  if (bad.length > 0) throw new AgentError("invalid_arg", bad.join("; "), { component: "control", details: { codeset } });
  return linux;
}

/** QEMU drops unknown qnum numbers silently, so keys go as qcodes whenever this QEMU has one. */
function toQKey(linux: number, supported: ReadonlySet<string>): QKey {
  const qcode = keycodes.qcodeOf(linux);
  if (qcode !== undefined && supported.has(qcode)) return { type: "qcode", data: qcode };
  const qnum = keycodes.tryFromLinux("qnum", linux);
  if (qnum !== undefined) return { type: "number", data: qnum };
  throw new AgentError("invalid_arg", `key ${keycodes.describeLinux(linux)} cannot be sent: this QEMU has no qcode for it and it has no qnum`, {
    component: "control",
  });
}

/** A paused guest (or one without a keyboard) would accept the keys and lose them. */
function requireKeyboard(ctx: CommandContext, uuid: string): void {
  const v = ctx.services.store.getDomain(uuid);
  if (!v) throw new AgentError("domain.not_found", `domain ${uuid} disappeared`, { component: "control" });
  if (!isActive(v.state)) throw new AgentError("operation_invalid", `domain "${v.name}" is not running`, { component: "control" });
  if (v.state === "paused") {
    throw new AgentError("operation_invalid", `domain "${v.name}" is paused: keys sent now would be lost`, { component: "control" });
  }
  const machine = v.def.os.machine ?? "pc";
  const implicitPs2 = /^(pc|q35)/.test(machine);
  if (!implicitPs2 && !v.def.devices.inputs.some((i) => i.type === "keyboard")) {
    throw new AgentError("operation_invalid", `domain "${v.name}" has no keyboard (machine ${machine})`, { component: "control" });
  }
}

async function qkeysFor(ctx: CommandContext, uuid: string, linux: readonly number[]): Promise<QKey[]> {
  const supported = await ctx.services.hypervisor.supportedQcodes(uuid);
  return linux.map((l) => toQKey(l, supported));
}

const sendKey = defineCommand({
  summary: "press keys together and release them (virsh send-key): names or numbers of a codeset",
  args: Type.Object(
    {
      domain: DomainRef,
      codeset: CodesetArg,
      // 0 means QEMU's default hold (10 ms), as virsh's --holdtime 0 does.
      holdtime: Type.Integer({ minimum: 0, maximum: MAX_HOLDTIME_MS, default: 0 }),
      keys: Type.Array(Key, { minItems: 1, maxItems: MAX_KEYS }),
    },
    { additionalProperties: false },
  ),
  target: "domain",
  mutates: true,
  volatile: true,
  snmpWritable: false,
  since: "0.1",
  handler: async (ctx, args) => {
    const uuid = uuidOf(ctx);
    const linux = resolveKeys(keycodes.parseCodeset(args.codeset), args.keys);
    requireKeyboard(ctx, uuid);
    const qkeys = await qkeysFor(ctx, uuid, linux);
    await ctx.services.hypervisor.sendKey(uuid, qkeys, args.holdtime);
    return { keys: linux.map((l, i) => ({ linux: l, name: keycodes.linuxName(l) ?? null, sent: qkeys[i] })), holdtime: args.holdtime };
  },
});

const typeText = defineCommand({
  summary: "type a string as key presses in a keyboard layout (shift handled)",
  args: Type.Object(
    {
      domain: DomainRef,
      // UTF-16 length bound; the character (code point) limit is checked in planText.
      text: Type.String({ minLength: 1, maxLength: MAX_TEXT_LENGTH * 2 }),
      layout: Type.String({ default: "us", minLength: 1, maxLength: 32 }),
      delay_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    },
    { additionalProperties: false },
  ),
  target: "domain",
  mutates: true,
  volatile: true,
  snmpWritable: false,
  since: "0.1",
  handler: async (ctx, args) => {
    const uuid = uuidOf(ctx);
    const chords = planText(parseLayout(args.layout), args.text);
    requireKeyboard(ctx, uuid);
    const supported = await ctx.services.hypervisor.supportedQcodes(uuid);
    const plan = chords.map((c) => c.map((l) => toQKey(l, supported)));
    for (const [i, keys] of plan.entries()) {
      // QEMU queues each send-key behind the previous one, so order holds without waiting.
      if (i > 0 && args.delay_ms) await sleep(args.delay_ms);
      await ctx.services.hypervisor.sendKey(uuid, keys, 0);
    }
    return { characters: chords.length, layout: args.layout };
  },
});

const keycode = defineCommand({
  summary: "a key's code in every codeset, and whether the domain's QEMU has its qcode",
  args: Type.Object(
    { domain: DomainRef, from: CodesetArg, keys: Type.Array(Key, { minItems: 1, maxItems: 64 }) },
    { additionalProperties: false },
  ),
  target: "domain",
  mutates: false,
  snmpWritable: false,
  since: "0.1",
  handler: async (ctx, args) => {
    const uuid = uuidOf(ctx);
    const linux = resolveKeys(keycodes.parseCodeset(args.from), args.keys);
    const supported = await ctx.services.hypervisor.supportedQcodes(uuid);
    return linux.map((l) => {
      const d = keycodes.describeKey(l);
      return { ...d, qcode_supported: d.qcode !== null && supported.has(d.qcode) };
    });
  },
});

export const KEY_COMMANDS = {
  "domain.send_key": sendKey,
  "domain.type_text": typeText,
  "domain.keycode": keycode,
};
