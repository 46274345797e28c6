-- A turn whose model reply ended at the request's maximum length (finish_reason 'length'): the
-- Review page flags it, since a cut-off simulated user or bot reply is no fair sample of either.

ALTER TABLE turns ADD COLUMN cut_off BOOLEAN NOT NULL DEFAULT false;
