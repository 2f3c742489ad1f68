/** The virtual module packaging/build-sea.ts generates for sea-entry.ts (see there). */
declare module 'qga-ts:host-subcommands' {
  export interface HostSubcommand {
    /** the file it was bundled from, for messages */
    readonly source: string;
    /** the export to call with the arguments after the subcommand word */
    readonly entry: string;
    readonly load: () => Record<string, unknown>;
  }
  /** One entry per subcommand; null when its source file did not exist at build time. */
  export const hostSubcommands: {
    readonly client: HostSubcommand | null;
    readonly monitor: HostSubcommand | null;
  };
}
