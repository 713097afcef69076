// proxy-from-env 2 ships no types: its one export, as its README documents it.
declare module 'proxy-from-env' {
  /** The proxy URL `NO_PROXY`, `<protocol>_proxy` and `ALL_PROXY` give for `url`, or '' for none. */
  export function getProxyForUrl(url: string | URL): string;
}
