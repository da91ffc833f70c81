// test asset
export function start() {
  console.log("the test SPA's script, long enough for the compression layer to compress it");
}
