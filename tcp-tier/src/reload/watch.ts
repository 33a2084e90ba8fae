/**
 * Watches the `-c` config file for changes. The directory is watched (not the file), so editors and
 * deploy tools that replace the file by renaming a new one over it are seen too; bursts of events are
 * coalesced (`debounceMs`), and a change whose bytes equal the last seen ones is ignored.
 */
import { createHash } from "node:crypto";
import { type FSWatcher, readFileSync, watch } from "node:fs";
import { basename, dirname } from "node:path";

function digest(path: string): string | undefined {
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  } catch {
    return undefined;
  }
}

export class ConfigFileWatcher {
  private readonly watcher: FSWatcher;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private last: string | undefined;
  private readonly path: string;

  /** Calls `onChange` (at most once per `debounceMs`) after the file's content changed. */
  constructor(path: string, onChange: () => void, debounceMs = 100) {
    this.path = path;
    this.last = digest(path);
    const name = basename(path);
    this.watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
      if (filename !== null && filename !== name) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        const now = digest(this.path);
        // A missing file (mid-rename) is not a change: the rename's own event follows.
        if (now === undefined || now === this.last) return;
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
