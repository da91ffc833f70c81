// test asset
