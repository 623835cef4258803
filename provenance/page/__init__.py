"""The verify page: drop a clip in a browser, see who made it, whether AI did, and what changed.

`provenance.page.app.create_app` is the web app (`provenance serve`, `serve-repository --verify-page`);
`provenance.page.report` turns a verdict into what the page shows; `provenance.page.gallery` verifies a
folder's media in the background.
"""
