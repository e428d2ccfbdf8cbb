/** One use of a flag in an argument list, as Go's flag package (which etcd uses) reads it. */
export interface FlagUse {
  /** The argument that names the flag. */
  readonly index: number;
  /** The argument that holds the value: `index` for `--name=value`, `index + 1` for `--name value`. */
  readonly valueIndex: number;
  /** The value, which is the end of `args[valueIndex]`; undefined when the flag is the last argument. */
  readonly value: string | undefined;
  /** The flag as written, e.g. `-quota-backend-bytes`, for messages. */
  readonly spelling: string;
}

// Go accepts one dash or two; a third dash or an empty name is a syntax error there, so it is not a use of any flag.
const FLAG = /^--?([^-=][^=]*)(=[\s\S]*)?$/;

/** The name of the flag an argument sets (`--data-dir=/x` → `data-dir`), or undefined when it is not a flag. */
export function flagName(arg: string): string | undefined {
  return FLAG.exec(arg)?.[1];
}

/**
 * Every use of flag `name` in `args` (the arguments after the program name).
 *
 * Without knowing which of etcd's flags are booleans, an argument that follows another flag cannot be told apart
 * from that flag's value, so each argument is looked at on its own; only this flag's own value is skipped.
 */
export function findFlag(args: readonly string[], name: string): FlagUse[] {
  const uses: FlagUse[] = [];
  for (let index = 0; index < args.length; index++) {
    const match = FLAG.exec(args[index]);
    if (match?.[1] !== name) continue;
    const inline = match[2];
    const spelling = args[index].slice(0, args[index].length - (inline?.length ?? 0));
    if (inline !== undefined) {
      uses.push({ index, valueIndex: index, value: inline.slice(1), spelling });
    } else {
      uses.push({ index, valueIndex: index + 1, value: args[index + 1], spelling });
      index++;
    }
  }
  return uses;
}

/** Whether a command runs etcd itself, judged by the name of the program's file. */
export function runsEtcd(program: string): boolean {
  return program.slice(program.lastIndexOf("/") + 1) === "etcd";
}
