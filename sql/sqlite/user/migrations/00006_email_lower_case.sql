-- +goose Up
-- Issue 34: the canonical form (services/common/emailaddr) no longer folds
-- case before IDNA, which made boss@straße.de boss@strasse.de and ß ss, ς σ
-- before the @. The accounts whose stored form may differ from the new one,
-- or may stand for another mailbox, are checked again at the next start, in
-- Go (NFKC, lower casing and IDNA are not SQL): those with a non-ASCII
-- character, an A-label (xn--) or "ss". Any other stored form is lower-case
-- ASCII and already the new form. See docs/security.md (email addresses).
UPDATE users SET email_canonical = FALSE
WHERE email_canonical AND (email LIKE '%ss%' OR email LIKE '%xn--%' OR length(email) <> length(CAST(email AS BLOB)));

-- +goose Down
-- Nothing to undo: a row checked again is in a form the old code reads too.
SELECT 1;
