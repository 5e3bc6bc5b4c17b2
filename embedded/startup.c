/* startup.c - the smallest bare-metal runtime for examples/embedded.c on a
   Cortex-M with an FPU: the Cortex-M4F of the ARM MPS2 AN386 board and the
   Cortex-M55 of the MPS3 AN547 (as qemu-system-arm -M mps2-an386 and
   -M mps3-an547 emulate them). The vector table, a reset handler that sets
   up memory, the FPU (and with it Helium, MVE, on the M55) and calls main(),
   output and exit through semihosting (the debugger's console: qemu's
   -semihosting), a tick counter on SysTick, and the stack's peak use.

   Semihosting: the program executes `bkpt 0xAB` with an operation number
   in r0 and an argument in r1; the debugger (here qemu) performs it.
   SYS_WRITE0 (0x04) prints a NUL-terminated string; SYS_EXIT (0x18) ends the
   program with a reason code (ApplicationExit = 0x20026 becomes exit status 0
   of qemu, RunTimeErrorUnknown = 0x20023 becomes 1).

   SysTick counts down the processor clock from 2^24 - 1; every wrap raises
   an exception that adds 2^24 to the count. The clock is EMBEDDED_SYSCLK_HZ
   (embedded/run.sh sets it per board: 25 MHz on the AN386, 32 MHz on the
   AN547, as qemu models them). Under `qemu -icount shift=0` every
   instruction advances virtual time by 1 ns, so instructions = ticks *
   1e9 / EMBEDDED_SYSCLK_HZ (examples/embedded.c does that arithmetic).

   Stack: the reset handler fills the stack reserve below its own frame with
   a pattern; embedded_stack_peak() finds the lowest word that no longer
   holds it, so the deepest the program has been (checked against the
   reserve by embedded/run.sh). */
#include <stdint.h>
#include <string.h>

#ifndef EMBEDDED_SYSCLK_HZ
#define EMBEDDED_SYSCLK_HZ 25000000ul /* MPS2 AN386 */
#endif

int main(void);
void embedded_write(const char *s, int n);
unsigned long embedded_ticks(void);
unsigned long embedded_tick_hz(void);
unsigned long embedded_stack_peak(void);
void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

/* from the linker script */
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_limit[], __stack_top[];

#define SYS_WRITE0 0x04
#define SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define ADP_STOPPED_RUN_TIME_ERROR 0x20023

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void embedded_write(const char *s, int n)
{
    char chunk[65];
    while (n > 0) {
        int k = n < 64 ? n : 64;
        memcpy(chunk, s, (size_t)k);
        chunk[k] = 0;
        semihost(SYS_WRITE0, chunk);
        s += k;
        n -= k;
    }
}

static void semihost_exit(int status)
{
    semihost(SYS_EXIT, (const void *)(uintptr_t)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                                              : ADP_STOPPED_RUN_TIME_ERROR));
    for (;;) {
    }
}

/* ---- SysTick --------------------------------------------------------- */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
static volatile unsigned long systick_wraps;

void SysTick_Handler(void)
{
    systick_wraps++;
}

unsigned long embedded_ticks(void)
{
    unsigned long w1, w2;
    uint32_t v;
    do {
        w1 = systick_wraps;
        v = SYST_CVR;
        w2 = systick_wraps;
    } while (w1 != w2);
    return (w1 << 24) + (0xFFFFFFu - v);
}

unsigned long embedded_tick_hz(void)
{
    return EMBEDDED_SYSCLK_HZ;
}

/* ---- stack peak ------------------------------------------------------ */
#define STACK_PAINT 0x5AC3A55Cu

unsigned long embedded_stack_peak(void)
{
    const volatile uint32_t *p = __stack_limit;
    while (p < __stack_top && *p == STACK_PAINT) p++;
    return (unsigned long)((uintptr_t)__stack_top - (uintptr_t)p);
}

/* ---- reset ----------------------------------------------------------- */
void Reset_Handler(void)
{
    uint32_t *src = __data_load, *dst = __data_start;
    uintptr_t sp;
    while (dst < __data_end) *dst++ = *src++;
    for (dst = __bss_start; dst < __bss_end;) *dst++ = 0;
    /* paint the stack below this frame (a margin of 64 bytes for the calls here) */
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (dst = __stack_limit; (uintptr_t)dst + 64u < sp;) *dst++ = STACK_PAINT;
    /* CPACR: full access to coprocessors 10 and 11, the FPU (and MVE on v8.1-M) */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* enable, interrupt on wrap, processor clock */
#ifdef EMBEDDED_RDIMON
    {
        /* newlib's semihosting library (--specs=rdimon.specs, for the C tests
           run on a board: tests/t_embedded.sh) opens stdio through it */
        extern void initialise_monitor_handles(void);
        initialise_monitor_handles();
    }
#endif
    semihost_exit(main());
}

void Default_Handler(void)
{
    static const char msg[] = "embedded: fault\n";
    embedded_write(msg, (int)sizeof msg - 1);
    semihost_exit(1);
}

/* The vector table: initial stack pointer, then the handlers
   (ARMv7-M Architecture Reference Manual, B1.5.3). */
typedef void (*vector)(void);
__attribute__((section(".vectors"), used)) const vector vector_table[16] = {
    (vector)(uintptr_t)__stack_top, Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault */
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    0, 0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};
