"""360Giving in and out: reading packages and flattened spreadsheets (`reader`), a grant to
the importer's record (`mapping`), importing (`load.import_360giving`) and the export of
bids as a 360Giving package (`export`)."""
