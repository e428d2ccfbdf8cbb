export { detectFormat, formatOfContent } from "./detect";
export type { ConfigEditor, QuotaInFile } from "./format";
export {
  backupPathFor,
  CONFIG_FORMATS,
  type ConfigFormat,
  defaultRestartCommand,
  editorFor,
  looksOf,
  parseFormat,
  specOf,
} from "./formats";
