/**
 * Watches the `-c` config file for changes. The directory is watched (not the file), so editors and
 * deploy tools that replace the file by renaming a new one over it are seen too; bursts of events are
 * coalesced (`debounceMs`), and a change whose bytes equal the last seen ones is ignored.
 */
import { type FSWatcher, readFileSync, watch } from "node:fs";
import { basename, dirname } from "node:path";

/** The file's bytes (a config file is small, so they are kept and compared whole), or undefined when it cannot be read. */
function contents(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

export class ConfigFileWatcher {
  private readonly watcher: FSWatcher;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private last: Buffer | undefined;
  private readonly path: string;

  /** Calls `onChange` (at most once per `debounceMs`) after the file's content changed. */
  constructor(path: string, onChange: () => void, debounceMs = 100) {
    this.path = path;
    this.last = contents(path);
    const name = basename(path);
    this.watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
      if (filename !== null && filename !== name) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        const now = contents(this.path);
        // A missing file (mid-rename) is not a change: the rename's own event follows.
        if (now === undefined || (this.last !== undefined && now.equals(this.last))) return;
        this.last = now;
        onChange();
      }, debounceMs);
    });
    this.watcher.on("error", () => {});
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.watcher.close();
  }
}
