// impair-link joins two TAP devices and passes Ethernet frames between them with a fixed delay and a random loss
// in each direction: a slow, lossy link for the lab's network tests, on kernels without sch_netem (tc's netem
// qdisc), which is where such a link would normally come from.
//
//	impair-link -a <tap> -b <tap> [-delay 100ms] [-loss 0.01] [-seed 1]
//
// Both devices must exist (`ip tuntap add dev <name> mode tap`) in the namespace it starts in; once it prints
// "ready", either may be moved to another namespace. It runs until killed.
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"syscall"
	"time"
	"unsafe"
)

const (
	iffTap    = 0x0002
	iffNoPi   = 0x1000
	tunSetIff = 0x400454ca
)

type frame struct {
	data []byte
	due  time.Time
}

func openTap(name string) (*os.File, error) {
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var request [40]byte
	copy(request[:16], name)
	*(*uint16)(unsafe.Pointer(&request[16])) = iffTap | iffNoPi
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&request[0]))); errno != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("attach to tap %s: %w", name, errno)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// pass copies frames from `from` to `to`, each after `delay`, dropping each with probability `loss`; frames keep
// their order, as on a wire.
func pass(from, to *os.File, delay time.Duration, loss float64, random *rand.Rand) {
	queue := make(chan frame, 65536)
	go func() {
		for f := range queue {
			time.Sleep(time.Until(f.due))
			to.Write(f.data)
		}
	}()
	buffer := make([]byte, 65536)
	for {
		n, err := from.Read(buffer)
		if err != nil {
			fmt.Fprintf(os.Stderr, "impair-link: read %s: %v\n", from.Name(), err)
			os.Exit(1)
		}
		if random.Float64() < loss {
			continue
		}
		data := make([]byte, n)
		copy(data, buffer[:n])
		select {
		case queue <- frame{data, time.Now().Add(delay)}:
		default: // a full queue drops, as a router's would
		}
	}
}

func main() {
	a := flag.String("a", "", "first TAP device")
	b := flag.String("b", "", "second TAP device")
	delay := flag.Duration("delay", 100*time.Millisecond, "delay of every frame, each direction")
	loss := flag.Float64("loss", 0.01, "share of frames dropped, each direction")
	seed := flag.Int64("seed", 1, "seed of the loss")
	flag.Parse()
	if *a == "" || *b == "" || *loss < 0 || *loss >= 1 || *delay < 0 {
		fmt.Fprintln(os.Stderr, "usage: impair-link -a <tap> -b <tap> [-delay 100ms] [-loss 0.01] [-seed 1]")
		os.Exit(2)
	}
	tapA, err := openTap(*a)
	if err != nil {
		fmt.Fprintln(os.Stderr, "impair-link:", err)
		os.Exit(1)
	}
	tapB, err := openTap(*b)
	if err != nil {
		fmt.Fprintln(os.Stderr, "impair-link:", err)
		os.Exit(1)
	}
	go pass(tapA, tapB, *delay, *loss, rand.New(rand.NewSource(*seed)))
	go pass(tapB, tapA, *delay, *loss, rand.New(rand.NewSource(*seed+1)))
	fmt.Println("ready")
	select {}
}
