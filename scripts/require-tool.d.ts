/** The absolute path of executable `name`; throws naming Debian package `pkg` if it is missing. */
export declare function requireTool(name: string, pkg: string): string;
