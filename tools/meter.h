/* meter.h - the command line's progress display: one line on standard
 * error, redrawn in place (\r), with the stage, how far, the rate and the
 * time left.  The library reports progress through callbacks in its
 * options; the commands draw it here. */
#ifndef SDSINF_METER_H
#define SDSINF_METER_H

typedef struct meter {
    int on;            /* drawing at all */
    const char *stage; /* what is being done (static text) */
    const char *unit;  /* what is counted ("layers", "steps") */
    double t0, last;   /* when the stage began, and was last drawn */
    int drawn;         /* a line is on the screen */
} meter;

/* 1 when progress is to be drawn: forced (--progress), refused
 * (--no-progress), else only to a terminal and not with --json or
 * --quiet. */
int meter_wanted(int force_on, int force_off, int json, int quiet);

/* Starts a stage (on: meter_wanted's answer); an unfinished line of an
 * earlier stage is ended first. */
void meter_begin(meter *m, int on, const char *stage, const char *unit);
/* done of total (total <= 0: not known: the count and the time only;
 * done 0 too: the stage and the time); redrawn at most every 0.1 s, and
 * always when done reaches total. */
void meter_show(meter *m, double done, double total);
/* Prints line (and a newline) on standard error above the progress line,
 * which the next meter_show redraws; without a meter, just the line. */
void meter_note(meter *m, const char *line);
/* Ends the stage: its line stays, with the stage's time. */
void meter_end(meter *m);

#endif /* SDSINF_METER_H */
