-- A persona's short description in words (who this user is, for the project's audience), shown to the
-- designer and given to the simulated user with the persona's attributes.

ALTER TABLE personas ADD COLUMN description TEXT NOT NULL DEFAULT '';
