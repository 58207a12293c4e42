
process.env.NO_DEPRECATION = 'express-session';
