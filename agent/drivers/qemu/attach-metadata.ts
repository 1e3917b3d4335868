/**
 * Pure: the `<metadata>` note an attached guest carries in its XML (libvirt keeps foreign
 * data there in a private namespace): which process, which monitor, and every note the
 * command-line reading and the QMP check produced.
 */
import { el } from "../../model/xml-writer.js";

export const ATTACH_XMLNS = "https://virtbus.dev/xmlns/attach/1";

/** `<virtbus:attach>` as raw XML lines for DomainDef.metadata (escaped by the writer). */
export function attachMetadata(pid: number, monitorPath: string, notes: readonly string[]): string {
  const body = [
    ...el("virtbus:pid", [], String(pid)),
    ...el("virtbus:monitor", [], monitorPath),
    ...notes.flatMap((n) => el("virtbus:note", [], n.replace(/[\x00-\x1f\x7f]/g, " "))),
  ];
  return el("virtbus:attach", [["xmlns:virtbus", ATTACH_XMLNS]], body).join("\n");
}
