"""The BMFF fast paths (private): signing and verifying in about one SHA-256 pass, with c2pa as the fallback."""
