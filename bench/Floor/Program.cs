// The floor: what any Native AOT .NET process costs to start, write a line and exit.
Console.WriteLine("hello, world");
