import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { DomainDef } from "../../../agent/model/domain-def.js";
import * as domainXml from "../../../agent/model/domain-xml.js";
import { validateDomainDef } from "../../../agent/model/domain-validate.js";
import { AgentError } from "../../../agent/model/errors.js";
import { toKiB } from "../../../agent/model/memory-units.js";

const DIR = join(dirname(fileURLToPath(import.meta.url)), "../../fixtures/domain-xml");
const REGENERATE = process.env.REGENERATE === "1";
const files = readdirSync(DIR).sort();
const okCases = files.filter((f) => /^ok-.*\.xml$/.test(f)).map((f) => f.slice(0, -4));
const badCases = files.filter((f) => /^bad-.*\.xml$/.test(f)).map((f) => f.slice(0, -4));

function read(name: string): string {
  return readFileSync(join(DIR, name), "utf8");
}

/** parse + validate, as a driver's define does; returns the thrown AgentError or the def. */
function load(xml: string): DomainDef | AgentError {
  try {
    const def = domainXml.parse(xml);
    validateDomainDef(def);
    return def;
  } catch (e) {
    if (e instanceof AgentError) return e;
    throw e;
  }
}

function withoutPasswords(def: DomainDef): DomainDef {
  const graphics = def.devices.graphics.map(({ passwd: _drop, ...g }) => g);
  return { ...def, devices: { ...def.devices, graphics } };
}

describe("domain XML fixtures", () => {
  it("the fixture directory has no orphan files and at least 20 ok and 20 bad cases", () => {
    const expected = new Set([...okCases.flatMap((c) => [`${c}.xml`, `${c}.json`]), ...badCases.flatMap((c) => [`${c}.xml`, `${c}.err`])]);
    const orphans = files.filter((f) => !expected.has(f));
    const missing = [...expected].filter((f) => !files.includes(f) && !REGENERATE);
    expect({ orphans, missing }).toEqual({ orphans: [], missing: [] });
    expect(okCases.length).toBeGreaterThanOrEqual(20);
    expect(badCases.length).toBeGreaterThanOrEqual(20);
  });

  describe.each(okCases)("%s", (name) => {
    const xml = read(`${name}.xml`);

    it("parses, validates and matches the reviewed JSON definition", () => {
      const def = load(xml);
      if (def instanceof AgentError) throw def;
      if (REGENERATE) writeFileSync(join(DIR, `${name}.json`), `${JSON.stringify(def, null, 2)}\n`);
      expect(def).toEqual(JSON.parse(read(`${name}.json`)));
    });

    it("round-trips parse -> format(secure) -> parse to an equal definition", () => {
      const def = domainXml.parse(xml);
      expect(domainXml.parse(domainXml.format(def, { secure: true }))).toEqual(def);
    });

    it("round-trips through the default (non-secure) format minus graphics passwords", () => {
      const def = domainXml.parse(xml);
      const again = domainXml.parse(domainXml.format(def));
      expect(again).toEqual(withoutPasswords(def));
      expect(domainXml.format(again)).toBe(domainXml.format(def));
    });
  });

  describe.each(badCases)("%s", (name) => {
    it("is rejected with the expected error code and message", () => {
      const got = load(read(`${name}.xml`));
      expect(got).toBeInstanceOf(AgentError);
      const err = got as AgentError;
      if (REGENERATE) writeFileSync(join(DIR, `${name}.err`), `${err.code}\n${err.message}\n`);
      const [code, substring] = read(`${name}.err`).split("\n");
      expect(err.code).toBe(code);
      expect(err.message).toContain(substring);
    });
  });
});

describe("memory unit conversion", () => {
  const table: [string, string | undefined, number][] = [
    ["1024", "b", 1],
    ["2048", "bytes", 2],
    ["1", "k", 1],
    ["1", "KiB", 1],
    ["7", undefined, 7],
    ["1024", "KB", 1000],
    ["1", "M", 1024],
    ["1", "MiB", 1024],
    ["1", "G", 1048576],
    ["1", "GiB", 1048576],
    ["1", "T", 1073741824],
    ["1", "TiB", 1073741824],
    ["1", "tib", 1073741824],
  ];
  it.each(table)("%s %s is %d KiB", (value, unit, kib) => {
    expect(toKiB(value, unit, "<memory>")).toBe(kib);
  });

  it("decimal units are powers of 1000 bytes: 1 GB is 976562.5 KiB and so is rejected, 2 GB is 1953125 KiB", () => {
    expect(() => toKiB("1", "GB", "<memory>")).toThrow(/not a whole number of KiB/);
    expect(toKiB("2", "GB", "<memory>")).toBe(1953125);
    expect(toKiB("128", "MB", "<memory>")).toBe(125000);
    expect(toKiB("1024", "TB", "<memory>")).toBe(1_000_000_000_000);
  });

  it("a size that is not a whole number of KiB is an xml_error", () => {
    expect(() => toKiB("1023", "b", "<memory>")).toThrow(AgentError);
    expect(() => toKiB("1023", "b", "<memory>")).toThrow(/not a whole number of KiB/);
  });

  it("a size above 2^53-1 KiB is an xml_error, the largest one is accepted", () => {
    expect(() => toKiB("9007199254740992", "KiB", "<memory>")).toThrow(/too large/);
    expect(toKiB("9007199254740991", "KiB", "<memory>")).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => toKiB("8", "EiB", "<memory>")).toThrow(/too large/);
  });

  it("an unknown unit is config_unsupported and a non-integer value is an xml_error", () => {
    expect(() => toKiB("1", "KiBB", "<memory>")).toThrow(expect.objectContaining({ code: "config_unsupported" }));
    expect(() => toKiB("1.5", "GiB", "<memory>")).toThrow(expect.objectContaining({ code: "xml_error" }));
    expect(() => toKiB("-1", "GiB", "<memory>")).toThrow(expect.objectContaining({ code: "xml_error" }));
  });
});

const BASIC = `<domain type='kvm'>
  <name>t</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><graphics type='vnc' autoport='yes' passwd='hunter2'/></devices>
</domain>`;

describe("parse and format behaviour", () => {
  it("format omits the graphics passwd by default and writes it with secure: true", () => {
    const def = domainXml.parse(BASIC);
    expect(def.devices.graphics[0]?.passwd).toBe("hunter2");
    expect(domainXml.format(def)).not.toContain("hunter2");
    expect(domainXml.format(def, { secure: true })).toContain("passwd='hunter2'");
  });

  it("a missing uuid parses to the empty string for the driver to fill and is not formatted", () => {
    const def = domainXml.parse(BASIC);
    expect(def.uuid).toBe("");
    expect(domainXml.format(def)).not.toContain("<uuid>");
  });

  it("format writes memory in KiB with libvirt's two-space indentation and single quotes", () => {
    const out = domainXml.format(domainXml.parse(BASIC));
    expect(out.split("\n").slice(0, 3)).toEqual(["<domain type='kvm'>", "  <name>t</name>", "  <memory unit='KiB'>65536</memory>"]);
  });

  it("format escapes markup in names, paths, cmdline and passwords", () => {
    const def = domainXml.parse(BASIC);
    def.os.kernel = "/k/<a>&'b\"";
    def.os.cmdline = "x</cmdline><evil/>";
    def.devices.graphics[0]!.passwd = "'/><x y='";
    const out = domainXml.format(def, { secure: true });
    expect(out).not.toContain("<evil/>");
    expect(out).not.toContain("<x y=");
    expect(domainXml.parse(out)).toEqual(def);
  });

  it("malformed XML is an xml_error that carries the line and column", () => {
    const err = load(read("bad-malformed.xml")) as AgentError;
    expect(err.code).toBe("xml_error");
    expect(err.details).toMatchObject({ line: expect.any(Number), column: expect.any(Number) });
    expect(err.message).toMatch(/line \d+, column \d+/);
  });

  it("input over 1 MiB is rejected before parsing", () => {
    const big = BASIC.replace("<name>t</name>", `<name>t</name><description>${"x".repeat(1024 * 1024)}</description>`);
    expect(() => domainXml.parse(big)).toThrow(expect.objectContaining({ code: "xml_error", message: expect.stringContaining("too large") }));
  });

  it("a document just under 1 MiB is accepted", () => {
    const pad = 1024 * 1024 - BASIC.length - 40;
    const ok = BASIC.replace("<name>t</name>", `<name>t</name><description>${"x".repeat(pad)}</description>`);
    expect(domainXml.parse(ok).description).toHaveLength(pad);
  });

  it("metadata children are kept as raw XML and survive a round trip", () => {
    const def = load(read("ok-metadata.xml")) as DomainDef;
    expect(def.metadata).toContain('<cmdb:owner team="platform">alice &amp; bob</cmdb:owner>');
    expect(def.metadata).toContain("<![CDATA[a<b, c]]>");
    expect(domainXml.parse(domainXml.format(def)).metadata).toBe(def.metadata);
  });

  it("controllers are absent from a definition whose XML has none, and kept in order when present", () => {
    expect(domainXml.parse(BASIC).devices.controllers).toBeUndefined();
    const def = load(read("ok-libvirt-dumpxml.xml")) as DomainDef;
    expect(def.devices.controllers?.map((c) => `${c.type}/${c.model ?? ""}`)).toEqual(["usb/piix3-uhci", "pci/pci-root", "ide/", "virtio-serial/"]);
  });

  it("an unsupported element deep inside devices is named by its full path", () => {
    const xml = BASIC.replace("<devices>", "<devices><disk type='file'><source file='/a'/><target dev='vda'/><iotune/></disk>");
    expect(() => domainXml.parse(xml)).toThrow("unsupported element <devices/disk/iotune>");
  });

  it("a repeated singleton element is an xml_error", () => {
    expect(() => domainXml.parse(BASIC.replace("<name>t</name>", "<name>t</name><name>u</name>"))).toThrow(
      expect.objectContaining({ code: "xml_error", message: expect.stringContaining("<domain/name> may appear only once") }),
    );
  });
});

describe("libvirt dumpxml import details", () => {
  const q35 = (): DomainDef => domainXml.parse(read("ok-libvirt9-q35-dumpxml.xml"));

  it("keeps a pcie-root-port's model name, chassis, hex port and multifunction flag through format", () => {
    const out = domainXml.format(q35());
    expect(out).toContain("<model name='pcie-root-port'/>");
    expect(out).toContain("<target chassis='1' port='0x10'/>");
    expect(out).toContain("<address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0' multifunction='on'/>");
    expect(out).toContain("<model name='pcie-pci-bridge'/>");
  });

  it("keeps usb and virtio-serial addresses and writes them back in libvirt's form", () => {
    const def = q35();
    expect(def.devices.inputs.find((i) => i.bus === "usb")?.address).toEqual({ bus: 0, port: "1" });
    expect(def.devices.channels[0]?.address).toEqual({ controller: 0, bus: 0, port: 1 });
    const out = domainXml.format(def);
    expect(out).toContain("<address type='usb' bus='0' port='1'/>");
    expect(out).toContain("<address type='virtio-serial' controller='0' bus='0' port='1'/>");
  });

  it("drops the tty of a pty console as runtime state but rejects tty on a file serial", () => {
    const pty = BASIC.replace("<devices>", "<devices><console type='pty' tty='/dev/pts/9'><target type='serial' port='0'/></console>");
    expect(domainXml.format(domainXml.parse(pty))).not.toContain("pts/9");
    const file = BASIC.replace("<devices>", "<devices><serial type='file' tty='/dev/pts/9'><source path='/tmp/s'/></serial>");
    expect(() => domainXml.parse(file)).toThrow("unsupported attribute 'tty' on <devices/serial>");
  });

  it("writes seclabel after devices and pm after the lifecycle actions, in libvirt's element order", () => {
    const out = domainXml.format(domainXml.parse(read("ok-platform-extras.xml")));
    const order = ["<resource>", "<os>", "<features>", "<cpu ", "<clock ", "<on_crash>", "<pm>", "<devices>", "<seclabel "].map((t) => out.indexOf(t));
    expect(order.every((p, i) => p >= 0 && (i === 0 || p > (order[i - 1] ?? 0)))).toBe(true);
  });

  it("refuses a second timer of the same name as a malformed document", () => {
    const xml = BASIC.replace("<devices>", "<clock offset='utc'><timer name='hpet' present='no'/><timer name='hpet' present='yes'/></clock><devices>");
    expect(() => domainXml.parse(xml)).toThrow(expect.objectContaining({ code: "xml_error" }));
  });

  it("refuses <controller><model name> that is not the QEMU device of its libvirt model", () => {
    const xml = BASIC.replace("<devices>", "<devices><controller type='pci' index='1' model='pcie-root-port'><model name='ioh3420'/></controller>");
    expect(() => domainXml.parse(xml)).toThrow(expect.objectContaining({ code: "config_unsupported", message: expect.stringContaining("ioh3420") }));
  });
});

